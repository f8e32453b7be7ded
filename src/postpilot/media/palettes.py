"""The colours of the offline cards: a dark two-colour gradient for white text, and a light accent.

A card's palette is picked from a hash of its prompt (``card.py``), so one post's images share a look.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Palette:
    start: RGB  # gradient colours: dark enough for white text (contrast ≥ 4.5:1, checked in tests)
    end: RGB
    accent: RGB  # light colour for the glow, the rule and the page number


def _hex(value: str) -> RGB:
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


PALETTES: tuple[Palette, ...] = tuple(
    Palette(_hex(a), _hex(b), _hex(c))
    for a, b, c in (
        ("#1e1b4b", "#5b21b6", "#f0abfc"),  # indigo to violet, orchid light
        ("#042f2e", "#0f766e", "#5eead4"),  # deep teal
        ("#0c1e3e", "#1d4ed8", "#7dd3fc"),  # ocean blue
        ("#431407", "#b91c1c", "#fdba74"),  # ember
        ("#052e16", "#166534", "#bef264"),  # forest, lime light
        ("#3b0764", "#9d174d", "#fda4af"),  # plum to raspberry
        ("#0f172a", "#334155", "#38bdf8"),  # slate, sky light
        ("#1c1917", "#44403c", "#fdba74"),  # warm stone, peach light
        ("#172554", "#6d28d9", "#fb7185"),  # navy to purple, coral light
        ("#064e3b", "#155e75", "#6ee7b7"),  # emerald to petrol
        ("#4c0519", "#7c2d12", "#fcd34d"),  # wine to rust, amber light
        ("#1e293b", "#0e7490", "#a5f3fc"),  # steel to cyan
    )
)

WHITE: RGB = (255, 255, 255)
