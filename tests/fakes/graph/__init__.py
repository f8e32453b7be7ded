"""A wire-level fake of the Instagram Graph API, in the styles of all three of Meta's hosts.

One server answers the paths of ``graph.facebook.com`` (Facebook Login), ``graph.instagram.com``
(Instagram Login) and ``api.instagram.com`` (Instagram Login's code exchange): tests point every base URL
at it. Paths may carry a version segment (``/v25.0/...``) or not.

It behaves like Meta's service, not like any particular client: tokens in the ``Authorization: Bearer``
header or in an ``access_token`` query/form parameter, form or JSON bodies, Meta's error envelope, the
container state machine (``IN_PROGRESS`` → ``FINISHED`` | ``ERROR`` → ``PUBLISHED`` | ``EXPIRED``), a
rolling 24 h publishing quota (a carousel counts once), the 400-containers-a-day limit, OAuth token
exchanges, and scriptable faults, including "published, but the response was lost".

Usage in a test::

    state = GraphState()
    state.add_account("17841400000000001", "tok-1", username="brand")
    with make_server(state) as server:        # server.url -> http://127.0.0.1:<port>
        ...                                    # drive the code under test
    assert state.published_count("17841400000000001") == 1

In its own process: ``python -m tests.fakes.graph --port 0`` prints
``READY http://127.0.0.1:<port>`` and is driven and inspected through a small JSON admin API under
``/_fake/`` (see ``_admin``).

Where Meta's behaviour is undocumented (publishing a container twice, the container-limit error, refreshing a
young token) the fake picks one plausible answer and, where tests may want another, makes it a setting.
"""

from __future__ import annotations

from tests.fakes.graph.records import (
    DAY_S,
    FB_SCOPES,
    IG_SCOPES,
    LONG_LIVED_EXPIRES_IN,
    LONG_LIVED_TTL_S,
    FakeAccount,
    FakeContainer,
    FakeMedia,
    FakeToken,
    Fault,
    GraphError,
    RequestRecord,
)
from tests.fakes.graph.routes import GraphRoutes
from tests.fakes.graph.server import GraphFakeHandler, load_accounts_file, main, make_server
from tests.fakes.graph.state import GraphState

__all__ = [
    "DAY_S",
    "FB_SCOPES",
    "IG_SCOPES",
    "LONG_LIVED_EXPIRES_IN",
    "LONG_LIVED_TTL_S",
    "FakeAccount",
    "FakeContainer",
    "FakeMedia",
    "FakeToken",
    "Fault",
    "GraphError",
    "GraphFakeHandler",
    "GraphRoutes",
    "GraphState",
    "RequestRecord",
    "load_accounts_file",
    "main",
    "make_server",
]
