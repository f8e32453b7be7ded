"""postpilot: publishes scheduled Instagram posts exactly once, on the minute."""

import sys

# httpx imports its own command-line client (``httpx._main``) when it is imported, and with it click, rich
# and pygments: about 1 MB of the idle daemon for a tool postpilot never runs. httpx falls back to a stub
# ``main`` when that module cannot be imported, which is what a ``None`` entry makes it. ``setdefault``: a
# process that already has it (someone's own use of ``httpx`` on the command line) keeps it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
