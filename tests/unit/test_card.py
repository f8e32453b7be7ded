"""The offline card renderer: right size, deterministic, distinct carousel images, readable text in every script."""

from __future__ import annotations

import io
import shutil
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageChops, ImageFont, ImageStat, features
from structlog.testing import capture_logs

from postpilot.domain.model import TARGET_SIZES, Aspect
from postpilot.media import font_faces, fonts
from postpilot.media.card import CardRenderer, render_card
from postpilot.media.card_text import _clean, _headline
from postpilot.media.line_layout import Writer
from postpilot.media.palettes import PALETTES
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


def changed_pixels(a: Image.Image, b: Image.Image) -> int:
    """Pixels where two renders of one prompt differ by more than a faint edge (its background is the same)."""
    difference = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 40 else 0)
    return int(ImageStat.Stat(difference).sum[0] // 255)


def need(text: str, package: str) -> None:
    """Fail (never skip) when this machine has no font for ``text``: CI installs the package named."""
    kept, _ = fonts.chooser().prepare(text)
    if kept != " ".join(unicodedata.normalize("NFKC", text).split()):
        pytest.fail(f"no installed font draws {text!r} (kept {kept!r}): apt-get install {package}")


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[fonts.FontChooser]:
    """A machine with no fonts but Pillow's bundled one."""
    bare = fonts.FontChooser(())
    monkeypatch.setattr(fonts, "chooser", lambda: bare)
    yield bare


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


def test_the_title_is_drawn_in_white(no_system_fonts: None) -> None:
    with_title = render(ImageRequest(prompt="Summer sale is here", aspect=Aspect.SQUARE))
    # With only the bundled font, a prompt in another script leaves the card without a title.
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


def test_text_is_folded_to_what_the_font_can_draw(no_system_fonts: None) -> None:
    assert _clean("Crème brûlée — Straße  Łódź\u00a0😀 東京") == "Creme brulee - Strasse Lodz"
    assert _clean("   ") == ""


def test_with_system_fonts_accents_stay() -> None:
    need("Łódź", "fonts-noto-core")
    assert _clean("Crème brûlée — Straße  Łódź\u00a0") == "Crème brûlée — Straße Łódź"
    # Typographic quotes and dashes the bundled font lacks are simplified, so English stays in Aileron.
    assert _clean("Don’t miss – “it”") == "Don’t miss - “it”"


def test_long_prompts_become_a_headline() -> None:
    prompt = (
        "A cozy coffee shop interior at sunrise, warm light spilling over wooden tables, plants in the "
        "window, film photography"
    )
    assert _headline(prompt) == "A cozy coffee shop interior at sunrise"
    assert _headline("summer sale") == "Summer sale"
    assert _headline("") == ""


# --- every language ----------------------------------------------------------------------------------------

SCRIPTS = {
    "cyrillic": ("Пять привычек продуктивных команд", "fonts-noto-core"),
    "greek": ("Πέντε συνήθειες παραγωγικών ομάδων", "fonts-noto-core"),
    "arabic": ("خمس عادات لفرق العمل عن بعد", "fonts-noto-core"),
    "hebrew": ("חמישה הרגלים של צוותים מרוחקים", "fonts-noto-core"),
    "devanagari": ("दूरस्थ टीमों की पाँच आदतें", "fonts-noto-core"),
    "chinese": ("高效远程团队的五个习惯", "fonts-noto-cjk"),
    "japanese": ("東京の夜景を楽しむ五つの方法", "fonts-noto-cjk"),
    "korean": ("원격 팀의 다섯 가지 습관", "fonts-noto-cjk"),
    "emoji": ("🎉🍮👨‍👩‍👧❤️", "fonts-noto-color-emoji"),
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_every_script_is_drawn(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prompt, package = SCRIPTS[name]
    need(prompt, package)
    request = ImageRequest(prompt=prompt, aspect=Aspect.PORTRAIT)
    drawn = render_card(request)
    # The same prompt without any font for its script: the same background, no title.
    monkeypatch.setattr(fonts, "chooser", lambda: fonts.FontChooser(()))
    bare = render_card(request)
    assert changed_pixels(drawn, bare) > 3_000, name
    width, height = drawn.size
    title_area = (0, height // 2, width, height)
    assert changed_pixels(drawn.crop(title_area), bare.crop(title_area)) == changed_pixels(drawn, bare)


def test_emoji_keep_their_colours() -> None:
    need("🎉", "fonts-noto-color-emoji")
    card = render_card(ImageRequest(prompt="🎉", aspect=Aspect.SQUARE))
    # White text has no hue; the party popper is yellow, red and blue.
    colourful = card.convert("HSV").split()[1].point(lambda v: 255 if v > 150 else 0)
    bright = card.convert("L").point(lambda v: 255 if v > 120 else 0)
    assert ImageStat.Stat(ImageChops.multiply(colourful, bright)).sum[0] // 255 > 1_000


def test_mixed_text_draws_each_run_in_a_font_that_has_it() -> None:
    text = "Sale -50% 🎉 سلام 你好"
    need(text, "fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji")
    kept, writer = fonts.chooser().prepare(text)
    groups = writer.groups(kept)
    assert "".join(g.text for g in groups).replace(" ", "") == "Sale-50%🎉سلام你好"
    faces = {g.text.strip(): g.face for g in groups if g.text.strip()}
    assert faces["Sale -50%"] is font_faces.BUNDLED  # English keeps the bundled face
    assert faces["🎉"].colour
    assert faces["سلام"].covers("س") and faces["你好"].covers("你")
    assert len({faces["🎉"], faces["سلام"], faces["你好"], font_faces.BUNDLED}) == 4


def _line(writer: Writer, text: str, x: float) -> Image.Image:
    canvas = Image.new("RGB", (1000, 200))
    writer.draw(canvas, text, 80, x=x, baseline=140, fill=(255, 255, 255), rtl=True)
    return canvas


def _difference_where(drawn: Image.Image, alone: Image.Image) -> float:
    box = alone.getbbox()
    assert box is not None
    return sum(ImageStat.Stat(ImageChops.difference(drawn.crop(box), alone.crop(box))).mean) / 3


@pytest.mark.parametrize(("text", "first"), [("שלום", "ש"), ("سلام عليكم", "سلام")], ids=["hebrew", "arabic"])
def test_right_to_left_text_starts_at_the_right(text: str, first: str) -> None:
    need(text, "fonts-noto-core")
    _, writer = fonts.chooser().prepare(text)
    drawn = _line(writer, text, 100)
    right_end = 100 + writer.width(text, 80, rtl=True)
    # The first letter (Hebrew) or word (Arabic) drawn alone at the right end matches the line there...
    at_right = _line(writer, first, right_end - writer.width(first, 80, rtl=True))
    assert _difference_where(drawn, at_right) < 2
    # ...and not at the left end, where a left-to-right layout would have put it.
    assert _difference_where(drawn, _line(writer, first, 100)) > 20


def test_pillow_lays_out_right_to_left_text() -> None:
    # Pillow's wheels carry raqm but load FriBiDi from the system at run time.
    assert features.check_feature("raqm"), "Pillow has no raqm layout: apt-get install libfribidi0"


def test_arabic_letters_are_joined() -> None:
    need("سلام", "fonts-noto-core")
    _, writer = fonts.chooser().prepare("سلام")
    # Joined forms are narrower than the four letters drawn apart.
    assert writer.width("سلام", 80) < 0.85 * sum(writer.width(c, 80) for c in "سلام")


def test_words_are_ordered_by_direction() -> None:
    need("שלום עולם", "fonts-noto-core")
    kept, writer = fonts.chooser().prepare("abc שלום עולם def")
    assert [g.text.strip() for g in writer.groups(kept) if g.text.strip()] == ["abc", "שלום עולם", "def"]
    kept, writer = fonts.chooser().prepare("שלום abc עולם 50%")
    visual = [g.text.strip() for g in writer.groups(kept, rtl=True) if g.text.strip()]
    assert visual == ["50%", "עולם", "abc", "שלום"]  # read from the right: שלום abc עולם 50%


def test_right_to_left_titles_are_aligned_right() -> None:
    need("שלום", "fonts-noto-core")
    for prompt in ("שלום", "سلام"):
        card = render_card(ImageRequest(prompt=prompt, aspect=Aspect.SQUARE))
        box = card.convert("L").point(lambda v: 255 if v >= 235 else 0).getbbox()
        assert box is not None
        margin = 88
        assert 1080 - margin - 12 <= box[2] <= 1080 - margin + 4, box
        assert box[0] > 1080 // 2, box


def test_a_script_without_a_font_is_left_out_with_one_warning(no_system_fonts: fonts.FontChooser) -> None:
    request = ImageRequest(prompt="Sale 50% 東京 🎉 नमस्ते", aspect=Aspect.SQUARE)
    with capture_logs() as logs:
        first = render_card(request)
        second = render_card(request)
    assert first.tobytes() == second.tobytes()
    assert near_white_pixels(first) > 3_000  # "Sale 50%" is still there
    assert _clean("Sale 50% 東京 🎉 नमस्ते") == "Sale 50%"
    advice = sorted(entry["advice"] for entry in logs if entry["event"] == "card_text_left_out")
    assert advice == [
        "install fonts-noto-cjk to draw Chinese, Japanese and Korean text on generated cards",
        "install fonts-noto-color-emoji to draw emoji on generated cards",
        "install fonts-noto-core to draw Devanagari text on generated cards",
    ]
    assert all(entry["log_level"] == "warning" for entry in logs)


def test_without_fontconfig_the_debian_font_paths_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "東京 سلام 🎉 नमस्ते Привет"
    need(text, "fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji")
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no fontconfig
    faces = font_faces.discover()
    assert faces and all(face.charset is None for face in faces)
    kept, writer = fonts.FontChooser(faces).prepare(text)
    assert kept == text
    assert {g.face.family for g in writer.groups(kept)} >= {"Noto Sans CJK SC", "Noto Sans Arabic", "Noto Color Emoji"}


def test_fontconfig_charsets_are_read() -> None:
    face = font_faces.Face("x.ttf", charset=font_faces._ranges("20-7e a0 600-6ff"))
    assert [face.covers(c) for c in " ~\x7f\xa0\xa1؀ۿ܀"] == [True, True, False, True, False, True, True, False]


def test_cards_in_every_script_are_deterministic() -> None:
    prompt = "Sale -50% 🎉 سلام 你好 Привет दूरस्थ שלום"
    need(prompt, "fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji")
    request = ImageRequest(prompt=prompt, aspect=Aspect.PORTRAIT, caption=prompt, variation=1, of_count=3)
    expected = CardRenderer().generate(request).data
    with ThreadPoolExecutor(4) as pool:  # each thread opens its own fonts
        assert set(pool.map(lambda _: CardRenderer().generate(request).data, range(8))) == {expected}
    fresh = fonts.FontChooser(font_faces.discover())  # found again: the same fonts, the same choices
    kept, writer = fresh.prepare(prompt)
    assert [(g.text, g.face.path) for g in writer.groups(kept)] == [
        (g.text, g.face.path) for g in fonts.chooser().prepare(prompt)[1].groups(kept)
    ]
