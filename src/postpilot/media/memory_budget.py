"""What one Instagram transform may hold in memory, as four figures that fit inside each other.

``PEAK_BYTES`` is the promise (``bench/transform_memory.py`` measures it on the worst case of every accepted
format; ``tests/unit/test_transform.py`` checks issue 12's image against it). Inside it, ``BUFFER_BUDGET`` is
shared by the source where it must be decoded whole (``WHOLE_DECODE_BUDGET``, checked in ``decoding.py``) and
the reduced copy of its crop (at most ``CANVAS_BYTES``, planned in ``fill.py``).
"""

from __future__ import annotations

# The most one transform may add to the process's memory, its input aside (the caller holds that already).
PEAK_BYTES = 150 * 2**20

# The two large buffers of PEAK_BYTES: the source where it must be held whole, and the reduced copy of its
# crop. The rest is for one band of rows, the target-size copies of the colour work and the JPEG encoder.
BUFFER_BUDGET = 112 * 2**20
# What a source decoded whole may take; the reduced copy beside it gets the rest of BUFFER_BUDGET, 16 MB or
# more (or, if even the strongest reduction needs more, up to 4× the target's pixels: 23 MB for a portrait).
WHOLE_DECODE_BUDGET = 96 * 2**20
# The reduced copy never takes more than this, even beside nothing: the LANCZOS pass over it makes a copy of
# its own that is a fifth of the size or more.
CANVAS_BYTES = 64 * 2**20
