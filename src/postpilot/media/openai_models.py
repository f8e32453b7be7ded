"""The OpenAI image models postpilot knows: which are current, which were shut down and when, what sizes each
takes, and what each costs. Pure data and arithmetic; no I/O (the lifecycle is read live by
``openai_lifecycle.read_model_lifecycle`` from ``GET /v1/models/{id}``).

Sources, read on 2026-12-01: OpenAI's "Deprecations" page (gpt-image-1.5, gpt-image-1.5-2025-12-16,
gpt-image-1-mini and chatgpt-image-latest shut down on 2026-12-01, replaced by gpt-image-2.6-sunburst or
gpt-image-2.6-flare; gpt-image-1 shut down on 2026-10-23; dall-e-2/3 retired on 2026-05-12); the
"gpt-image-2.6-sunburst" model page (text input $5, cached text $1.25, image input $8, cached image $2, image
output $30 per 1M tokens); the "Create image" API reference (arbitrary ``WxH`` sizes for the gpt-image-2
family: both sides divisible by 16, aspect 1:3 to 3:1, at most 3840x2160). No OpenAI page for
gpt-image-2.6-flare was available: it is priced like sunburst, as every published price list has it.

Per-image token counts for the gpt-image-2 family are not published as a table; the figures below are
estimates used only to check a daily budget *before* generating. What gets recorded is the response's
``usage`` priced with ``TokenPrices``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from postpilot.domain.model import Aspect

DEFAULT_MODEL: Final = "gpt-image-2.6-sunburst"

# Accepted by the API on 2026-12-01 and not announced for shutdown. Dated snapshots of these are accepted too.
CURRENT_MODELS: Final = (
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-flare",
    "gpt-image-2",
)


@dataclass(frozen=True, slots=True)
class Retirement:
    shutdown: date
    replacement: str


_TO_26 = "gpt-image-2.6-sunburst or gpt-image-2.6-flare"
RETIRED_MODELS: Final[dict[str, Retirement]] = {
    "dall-e-2": Retirement(date(2026, 5, 12), _TO_26),
    "dall-e-3": Retirement(date(2026, 5, 12), _TO_26),
    "gpt-image-1": Retirement(date(2026, 10, 23), _TO_26),
    "gpt-image-1-mini": Retirement(date(2026, 12, 1), _TO_26),
    "gpt-image-1.5": Retirement(date(2026, 12, 1), _TO_26),
    "gpt-image-1.5-2025-12-16": Retirement(date(2026, 12, 1), _TO_26),
    "chatgpt-image-latest": Retirement(date(2026, 12, 1), _TO_26),
}


def _names(model: str, name: str) -> bool:
    """``model`` is ``name`` or one of its dated snapshots ("gpt-image-1.5-2025-12-16")."""
    return model == name or (model.startswith(name + "-") and model[len(name) + 1 :][:4].isdigit())


def retirement(model: str, today: date) -> Retirement | None:
    """The shutdown that has already happened for ``model`` by ``today``, if any (snapshots included)."""
    for name, gone in RETIRED_MODELS.items():
        if _names(model, name) and gone.shutdown <= today:
            return gone
    return None


def is_known_current(model: str) -> bool:
    return any(_names(model, m) for m in CURRENT_MODELS)


# --- sizes -----------------------------------------------------------------------------------------------

# The 1.x models took only these; still the fallback for a model we do not know.
_STANDARD_SIZES: Final = {
    Aspect.SQUARE: (1024, 1024),
    Aspect.PORTRAIT: (1024, 1536),
    Aspect.LANDSCAPE: (1536, 1024),
    Aspect.STORY: (1024, 1536),  # the tallest they make; cropped to 9:16
}
# The gpt-image-2 family takes any WxH with both sides divisible by 16 (aspect 1:3..3:1, <= 3840x2160).
# Each is the smallest such size at least 1080 wide whose shape matches the target (within 0.3 %), so the
# transform scales down a little instead of cropping: 1088x1360 is exactly 4:5; 1344x704 is 1.909:1 against
# Instagram's 1080x566 (1.908:1). 1088x576 would be closer in width but falls under the ~0.65 MP minimum
# the larger models are reported to have (unsure), so the landscape size stays comfortably above it.
_FLEXIBLE_SIZES: Final = {
    Aspect.SQUARE: (1088, 1088),
    Aspect.PORTRAIT: (1088, 1360),
    Aspect.LANDSCAPE: (1344, 704),
    Aspect.STORY: (1152, 2048),  # exactly 9:16 with both sides divisible by 16
}


def is_flexible_model(model: str) -> bool:
    """Whether ``model`` accepts arbitrary ``WxH`` sizes (the gpt-image-2 family)."""
    return model == "gpt-image-2" or model.startswith(("gpt-image-2-", "gpt-image-2."))


def size_for(model: str, aspect: Aspect) -> tuple[int, int]:
    """The size to ask ``model`` for. Unknown models get the standard sizes every GPT image model accepts."""
    table = _FLEXIBLE_SIZES if is_flexible_model(model) else _STANDARD_SIZES
    return table[aspect]


# --- prices ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """USD per million tokens."""

    text_input: float
    image_input: float
    image_output: float


# The gpt-image-2 family (2, 2.5-*, 2.6-*): $5 text in, $8 image in, $30 image out (the 2.6 model page). A
# model we do not know is priced the same.
PRICES: Final = TokenPrices(text_input=5.0, image_input=8.0, image_output=30.0)

# Estimated output tokens of one 1024x1024 image per quality, for budget checks before a generation; other
# sizes scale with pixel area. OpenAI publishes no table for the gpt-image-2 family; its calculator was
# reported to give about 7,000 tokens for 1024x1024 at high, more than the 1.x table's 4,160, so these err
# high (a budget check should err towards spending less). "auto" may choose "high".
_OUTPUT_TOKENS_1024: Final = {"low": 400, "medium": 1600, "high": 7024, "auto": 7024}


def prices_for(model: str) -> TokenPrices:
    return PRICES


def table_cost_usd(model: str, quality: str, width: int, height: int, prompt_chars: int = 0) -> float:
    """The expected price of one image from the estimates above (when a response has no ``usage``)."""
    prices = prices_for(model)
    output_tokens = _OUTPUT_TOKENS_1024[quality] * width * height / (1024 * 1024)
    text_tokens = prompt_chars / 4  # roughly four characters per token for English text
    return (output_tokens * prices.image_output + text_tokens * prices.text_input) / 1_000_000


def usage_cost_usd(model: str, *, text_in: int, image_in: int, output: int) -> float:
    """The price of what a response's ``usage`` reports; all output tokens are priced as image tokens (an
    upper bound: no text-output price is published for these models)."""
    prices = prices_for(model)
    return (text_in * prices.text_input + image_in * prices.image_input + output * prices.image_output) / 1_000_000
