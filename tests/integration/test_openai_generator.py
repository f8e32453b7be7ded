"""OpenAIImageGenerator: the real ``openai`` SDK against the wire-level fake on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from PIL import Image

from postpilot.domain.errors import (
    ConfigError,
    ContentRejected,
    InvalidInput,
    Permanent,
    PostpilotError,
    ProviderBlocked,
    Throttled,
    Transient,
)
from postpilot.domain.model import Aspect
from postpilot.media.openai_generator import OpenAIImageGenerator, size_for, table_cost_usd
from postpilot.media.ports import ImageGenerator, ImageRequest
from tests.fakes import openai_fake as f
from tests.fakes.openai_fake import OpenAIFake, OpenAIFakeState

KEY = "sk-test-postpilot-0123456789"
MakeGenerator = Callable[..., OpenAIImageGenerator]


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake(OpenAIFakeState(api_key=KEY)) as server:
        yield server


@pytest.fixture
def make_generator(fake: OpenAIFake) -> Iterator[MakeGenerator]:
    made: list[OpenAIImageGenerator] = []

    def make(**overrides: object) -> OpenAIImageGenerator:
        options: dict[str, object] = {
            "api_key": KEY,
            "base_url": fake.base_url,
            "model": "gpt-image-2.6-sunburst",
            "quality": "medium",
            "output_format": "jpeg",
            "timeout_s": 10.0,
            "max_retries": 2,
        }
        options.update(overrides)
        generator = OpenAIImageGenerator(**options)  # type: ignore[arg-type]
        made.append(generator)
        return generator

    yield make
    for generator in made:
        generator.close()


def request(aspect: Aspect = Aspect.SQUARE, prompt: str = "a lighthouse at dawn, watercolour") -> ImageRequest:
    return ImageRequest(prompt=prompt, aspect=aspect)


def test_satisfies_the_port(make_generator: MakeGenerator) -> None:
    generator: ImageGenerator = make_generator()
    assert generator.model == "gpt-image-2.6-sunburst"


@pytest.mark.parametrize(
    ("model", "aspect", "size"),
    [
        ("gpt-image-2.6-sunburst", Aspect.SQUARE, (1088, 1088)),
        ("gpt-image-2.6-sunburst", Aspect.PORTRAIT, (1088, 1360)),
        ("gpt-image-2.6-flare", Aspect.LANDSCAPE, (1344, 704)),
        ("gpt-image-2", Aspect.SQUARE, (1088, 1088)),
        ("gpt-image-2", Aspect.PORTRAIT, (1088, 1360)),
        ("gpt-image-2", Aspect.LANDSCAPE, (1344, 704)),
        ("gpt-image-2.5-flare", Aspect.LANDSCAPE, (1344, 704)),
    ],
)
def test_generates_a_jpeg_of_the_size_asked_for_each_aspect(
    fake: OpenAIFake, make_generator: MakeGenerator, model: str, aspect: Aspect, size: tuple[int, int]
) -> None:
    image = make_generator(model=model).generate(request(aspect))

    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == size
    assert image.model == model
    assert fake.state.bodies == [
        {
            "model": model,
            "prompt": "a lighthouse at dawn, watercolour",
            "size": f"{size[0]}x{size[1]}",
            "quality": "medium",
            "output_format": "jpeg",
            "n": 1,
        }
    ]
    assert fake.state.generated == 1


def test_flexible_sizes_follow_the_gpt_image_2_rules() -> None:
    for aspect in Aspect:
        width, height = size_for("gpt-image-2", aspect)
        assert width % 16 == 0 and height % 16 == 0
        assert width >= 1080  # the Instagram transform never has to scale up
        assert f.size_problem("gpt-image-2", f"{width}x{height}") is None


def test_carousel_positions_get_distinct_prompts_and_images(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    generator = make_generator()
    images = [
        generator.generate(ImageRequest(prompt="autumn menu", aspect=Aspect.SQUARE, variation=i, of_count=4))
        for i in range(4)
    ]

    prompts = [r.prompt for r in fake.state.requests]
    assert len(set(prompts)) == 4
    assert all(p.startswith("autumn menu") for p in prompts)
    assert "Image 2 of 4" in prompts[1]
    assert len({hashlib.sha256(i.data).hexdigest() for i in images}) == 4


def test_cost_comes_from_usage_and_the_estimate_errs_high(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    generator = make_generator(quality="medium")
    req = request(Aspect.PORTRAIT)

    image = generator.generate(req)

    # The fake reports len(prompt)//4 text tokens and 1056 image tokens per 1024x1024 at medium, scaled by area
    # (1088x1360); the gpt-image-2.6 prices are $5 (text in) and $30 (image out) per million tokens.
    body = fake.state.requests[0]
    assert body.size == "1088x1360"
    text_tokens = len(req.prompt) // 4
    image_tokens = round(1056 * 1088 * 1360 / (1024 * 1024))
    assert image.cost_usd == pytest.approx((text_tokens * 5 + image_tokens * 30) / 1e6)
    # No per-image token table is published for these models: the budget estimate errs towards spending less.
    assert image.cost_usd <= generator.estimate_cost_usd(req) < 2 * image.cost_usd


def test_price_table() -> None:
    # $30 per million image output tokens; the estimates per 1024x1024 image: 400 / 1600 / 7024 tokens.
    assert table_cost_usd("gpt-image-2.6-sunburst", "low", 1024, 1024) == pytest.approx(0.012)
    assert table_cost_usd("gpt-image-2.6-flare", "medium", 1024, 1024) == pytest.approx(0.048)
    assert table_cost_usd("gpt-image-2.6-sunburst", "high", 1024, 1024) == pytest.approx(0.21072)
    assert table_cost_usd("gpt-image-2", "high", 1088, 1360) == pytest.approx(0.21072 * 1088 * 1360 / 1024**2)
    # "auto" may turn out "high": budget estimates assume the dearer case.
    assert table_cost_usd("gpt-image-2.6-sunburst", "auto", 1024, 1024) == table_cost_usd(
        "gpt-image-2.6-sunburst", "high", 1024, 1024
    )


@pytest.mark.parametrize("fault", [f.content_policy_violation, f.moderation_blocked])
def test_safety_rejection_is_content_rejected_with_a_readable_message(
    fake: OpenAIFake, make_generator: MakeGenerator, fault: Callable[[], f.Action]
) -> None:
    fake.state.push(fault())

    with pytest.raises(ContentRejected) as caught:
        make_generator().generate(request())

    assert "safety system rejected the prompt" in caught.value.message
    assert "supply an image" in caught.value.message
    assert fake.state.request_count == 1
    assert fake.state.generated == 0


def test_a_blocked_prompt_is_rejected_without_scripting(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    with pytest.raises(ContentRejected):
        make_generator().generate(request(prompt="something forbidden-content"))


def test_rate_limit_with_retry_after_is_waited_out(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.rate_limited(retry_after_s=0.2))

    image = make_generator().generate(request())

    assert image.data
    assert fake.state.request_count == 2
    assert [r.status for r in fake.state.requests] == [429, 200]
    assert fake.state.generated == 1


def test_rate_limit_that_persists_is_throttled_with_the_servers_delay(
    fake: OpenAIFake, make_generator: MakeGenerator
) -> None:
    fake.state.push(f.rate_limited(retry_after_s=7, as_ms=False))

    with pytest.raises(Throttled) as caught:
        make_generator(max_retries=0).generate(request())

    assert caught.value.retry_after_s == 7
    assert fake.state.request_count == 1


def test_a_long_retry_after_is_left_to_the_pipeline(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.rate_limited(retry_after_s=60))

    with pytest.raises(Throttled) as caught:
        make_generator(max_retries=2).generate(request())

    assert caught.value.retry_after_s == 60
    assert fake.state.request_count == 1


def test_insufficient_quota_blocks_after_exactly_one_request(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.default = f.insufficient_quota()

    with pytest.raises(ProviderBlocked) as caught:
        make_generator(max_retries=3).generate(request())

    assert "out of credit" in caught.value.message
    assert fake.state.request_count == 1


def test_a_wrong_key_blocks_after_one_request(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    wrong = "sk-wrong-key-abcdefghijklmnop"

    with pytest.raises(ProviderBlocked) as caught:
        make_generator(api_key=wrong, max_retries=3).generate(request())

    assert "API key was rejected" in caught.value.message
    assert wrong not in caught.value.message and wrong[-4:] not in caught.value.message
    assert fake.state.request_count == 1


def test_forbidden_account_is_provider_blocked(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.forbidden())

    with pytest.raises(ProviderBlocked) as caught:
        make_generator().generate(request())

    assert "HTTP 403" in caught.value.message and "must be verified" in caught.value.message
    assert fake.state.request_count == 1


def test_a_server_error_is_retried_then_succeeds(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.server_error(500, retry_after_ms=20))

    assert make_generator().generate(request()).data
    assert [r.status for r in fake.state.requests] == [500, 200]
    assert fake.state.generated == 1


def test_a_dropped_connection_is_retried_then_succeeds(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.drop())

    assert make_generator().generate(request()).data
    assert fake.state.request_count == 2


def test_html_bad_gateway_is_transient_once_retries_are_spent(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.default = f.server_error(502, html=True, retry_after_ms=20)

    with pytest.raises(Transient) as caught:
        make_generator(max_retries=2).generate(request())

    assert not isinstance(caught.value, Throttled)
    assert "HTTP 502" in caught.value.message and "3 attempts" in caught.value.message
    assert fake.state.request_count == 3
    assert fake.state.generated == 0


def test_a_slow_answer_times_out_as_transient(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.delay(5.0))

    with pytest.raises(Transient, match=r"did not deliver the image within 0\.3 s"):
        make_generator(timeout_s=0.3, max_retries=0).generate(request())
    assert fake.state.request_count == 1


@pytest.mark.parametrize("fault", [f.empty_data, f.bad_image])
def test_a_response_without_a_usable_image_is_transient(
    fake: OpenAIFake, make_generator: MakeGenerator, fault: Callable[[], f.Action]
) -> None:
    fake.state.push(fault())

    with pytest.raises(Transient):
        make_generator().generate(request())
    assert fake.state.request_count == 1


def test_an_invalid_value_is_permanent_and_names_the_setting(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    fake.state.push(f.invalid_value("size", "Invalid value: '1080x1350'."))

    with pytest.raises(Permanent) as caught:
        make_generator().generate(request())

    assert not isinstance(caught.value, ContentRejected)
    assert "'size'" in caught.value.message and "1080x1350" in caught.value.message
    assert "{" not in caught.value.message  # OpenAI's words, not a dump of the response body


def test_an_unknown_model_holds_the_post_and_names_the_setting(
    fake: OpenAIFake, make_generator: MakeGenerator
) -> None:
    with pytest.raises(ProviderBlocked) as caught:
        make_generator(model="gpt-image-9").generate(request())

    message = caught.value.message
    assert "'gpt-image-9'" in message and "POSTPILOT_OPENAI_MODEL" in message
    assert "gpt-image-2.6-sunburst" in message and "wait" in message
    assert caught.value.retry_after_s == 900.0
    assert fake.state.request_count == 1


def test_a_model_the_service_shut_down_before_our_table_knew_holds_the_post(
    fake: OpenAIFake, make_generator: MakeGenerator
) -> None:
    fake.state.shutdown_dates["gpt-image-2.6-flare"] = date(2026, 11, 30)

    with pytest.raises(ProviderBlocked, match="POSTPILOT_OPENAI_MODEL") as caught:
        make_generator(model="gpt-image-2.6-flare").generate(request())

    assert "does not offer the image model 'gpt-image-2.6-flare'" in caught.value.message
    assert fake.state.request_count == 1  # model_not_found is not retried by the SDK
    assert fake.state.generated == 0


@pytest.mark.parametrize("model", ["dall-e-3", "gpt-image-1", "gpt-image-1.5", "gpt-image-1.5-2025-12-16"])
def test_known_retired_models_hold_the_post_without_a_request(
    fake: OpenAIFake, make_generator: MakeGenerator, model: str
) -> None:
    with pytest.raises(ProviderBlocked) as caught:
        make_generator(model=model).generate(request())

    message = caught.value.message
    assert f"shut down the image model '{model}'" in message
    assert "POSTPILOT_OPENAI_MODEL" in message and "gpt-image-2.6-sunburst or gpt-image-2.6-flare" in message
    assert fake.state.request_count == 0


@pytest.mark.parametrize(
    "overrides", [{"quality": "hd"}, {"output_format": "gif"}, {"api_key": " "}, {"timeout_s": 0.0}]
)
def test_bad_settings_are_a_config_error(overrides: dict[str, object]) -> None:
    options: dict[str, object] = {"api_key": KEY, "model": "gpt-image-2.6-sunburst", **overrides}
    with pytest.raises(ConfigError):
        OpenAIImageGenerator(**options)  # type: ignore[arg-type]


def test_an_empty_prompt_is_invalid_input(fake: OpenAIFake, make_generator: MakeGenerator) -> None:
    with pytest.raises(InvalidInput):
        make_generator().generate(ImageRequest(prompt="  ", aspect=Aspect.SQUARE))
    assert fake.state.request_count == 0


@pytest.mark.parametrize(
    "fault",
    [
        f.invalid_api_key(f"{KEY[:3]}***{KEY[-4:]}"),
        f.invalid_value("size", f"Invalid value from key {KEY}"),
        f.forbidden(),
        f.insufficient_quota(),
        f.rate_limited(retry_after_s=0),
        f.server_error(503),
        f.content_policy_violation(),
        f.drop(),
        f.empty_data(),
    ],
    ids=lambda action: f"{action.kind}-{action.status}",
)
def test_the_api_key_never_appears_in_messages_or_logs(
    fake: OpenAIFake, make_generator: MakeGenerator, capsys: pytest.CaptureFixture[str], fault: f.Action
) -> None:
    fake.state.default = fault

    with pytest.raises(PostpilotError) as caught:
        make_generator(max_retries=0).generate(request())

    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY[-4:] not in caught.value.message
    captured = capsys.readouterr()
    assert KEY not in captured.out and KEY not in captured.err
