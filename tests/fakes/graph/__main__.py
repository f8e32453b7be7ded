"""``python -m tests.fakes.graph --port 0``: the Graph API fake in its own process."""

import sys

from tests.fakes.graph.server import main

sys.exit(main())
