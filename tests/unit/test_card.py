"""The offline card renderer: right size, deterministic, distinct carousel images, readable text."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageFont, ImageStat

from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media.card import PALETTES, CardRenderer, _clean, _headline
from postpilot.media.ports import ImageGenerator, ImageRequest
from postpilot.media.transform import to_instagram_jpeg

PROMPT = "Five habits of highly productive remote teams"
CAPTION = "Swipe through for the full list 👉\n\n#productivity #remote"


def render(request: ImageRequest) -> Image.Image:
    generated = CardRenderer().generate(request)
    image = Image.open(io.BytesIO(generated.data))
    image.load()
    return image


def near_white_pixels(image: Image.Image) -> int:
    grey = image.convert("L").point(lambda v: 255 if v >= 235 else 0)
    return int(ImageStat.Stat(grey).sum[0] // 255)


def test_it_is_an_image_generator() -> None:
    renderer: ImageGenerator = CardRenderer()
    request = ImageRequest(prompt=PROMPT, aspect=Aspect.SQUARE)
    assert renderer.model == "card-v1"
    assert renderer.estimate_cost_usd(request) == 0.0
    generated = renderer.generate(request)
    assert generated.model == "card-v1"
    assert generated.cost_usd == 0.0
    assert generated.data[:3] == b"\xff\xd8\xff"  # JPEG


def test_the_bundled_font_is_scalable() -> None:
    # Pillow ≥ 10.1 ships Aileron as a real FreeType font; the card depends on it.
    assert isinstance(ImageFont.load_default(size=80), ImageFont.FreeTypeFont)


@pytest.mark.parametrize("aspect", list(Aspect))
def test_every_aspect_has_exactly_the_target_size(aspect: Aspect) -> None:
    image = render(ImageRequest(prompt=PROMPT, aspect=aspect, caption=CAPTION))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == TARGET_SIZES[aspect]
    # Already Instagram-ready: the transform passes the card through untouched.
    data = CardRenderer().generate(ImageRequest(prompt=PROMPT, aspect=aspect)).data
    assert to_instagram_jpeg(data, aspect).data == data


def test_same_request_gives_identical_bytes() -> None:
    request = ImageRequest(prompt=PROMPT, aspect=Aspect.PORTRAIT, caption=CAPTION, variation=2, of_count=4)
    first = CardRenderer().generate(request).data
    second = CardRenderer().generate(request).data
    assert first == second


def test_carousel_variations_differ_visibly() -> None:
    images = [
        render(ImageRequest(prompt=PROMPT, aspect=Aspect.SQUARE, caption=CAPTION, variation=k, of_count=4))
        for k in range(4)
    ]
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            difference = ImageStat.Stat(ImageChops.difference(images[i], images[j])).mean
            assert sum(difference) / 3 > 4, (i, j, difference)


def test_different_prompts_get_different_cards() -> None:
    a = render(ImageRequest(prompt="Summer sale is here", aspect=Aspect.SQUARE))
    b = render(ImageRequest(prompt="Meet the team", aspect=Aspect.SQUARE))
    assert sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3 > 4


def test_the_title_is_drawn_in_white() -> None:
    with_title = render(ImageRequest(prompt="Summer sale is here", aspect=Aspect.SQUARE))
    # A prompt the bundled font cannot draw: the card stands without a title.
    without = render(ImageRequest(prompt="東京の夜景", aspect=Aspect.SQUARE))
    assert near_white_pixels(with_title) > 10_000
    assert near_white_pixels(without) < 500


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "x",
        "A" * 400,  # one endless word
        "A cozy coffee shop interior at sunrise with warm light spilling over wooden tables " * 25,
        "Crème brûlée — the café’s “new” dessert 🍮",
        "東京の夜景 😀",
    ],
)
@pytest.mark.parametrize("aspect", list(Aspect))
def test_awkward_prompts_still_render(prompt: str, aspect: Aspect) -> None:
    image = render(ImageRequest(prompt=prompt, aspect=aspect, caption=CAPTION * 10, variation=9, of_count=10))
    assert image.size == TARGET_SIZES[aspect]


def test_palettes_keep_white_text_readable() -> None:
    def luminance(rgb: tuple[int, int, int]) -> float:
        def channel(c: int) -> float:
            s = c / 255
            return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    for palette in PALETTES:
        for colour in (palette.start, palette.end):
            contrast = 1.05 / (luminance(colour) + 0.05)
            assert contrast >= 4.5, (palette, colour, contrast)


def test_text_is_folded_to_what_the_font_can_draw() -> None:
    assert _clean("Crème brûlée — Straße  Łódź\u00a0😀 東京") == "Creme brulee - Strasse Lodz"
    assert _clean("   ") == ""


def test_long_prompts_become_a_headline() -> None:
    prompt = (
        "A cozy coffee shop interior at sunrise, warm light spilling over wooden tables, plants in the "
        "window, film photography"
    )
    assert _headline(prompt) == "A cozy coffee shop interior at sunrise"
    assert _headline("summer sale") == "Summer sale"
    assert _headline("") == ""
