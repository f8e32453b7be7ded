"""The repository: the only code that changes a post's state, one module per concern.

``Repository`` puts them together: accounts (``db/accounts.py``), posts as written (``db/posts.py``), claims
and leases (``db/leases.py`` over the claim queries in ``db/claims.py``), guarded transitions
(``db/transitions.py``), a person's actions on a post (``db/actions.py``), approval (``db/approval.py``),
media and spend (``db/media.py``), summaries (``db/summary.py``), live workers (``db/workers.py``), looking
ahead for trouble (``db/alerts.py``), and the review page's users and reads (``db/users.py``,
``db/review.py``), and recurring posts (``db/series.py``). The pipeline sees it through the small Protocols
in ``pipeline/ports.py``.
"""

from __future__ import annotations

from postpilot.db.accounts import AccountRecords
from postpilot.db.actions import PostActions
from postpilot.db.alerts import Alerts
from postpilot.db.approval import Approvals
from postpilot.db.comments import FirstComments
from postpilot.db.duplicates import Duplicates
from postpilot.db.leases import Leases
from postpilot.db.media import MediaRecords
from postpilot.db.outbox import Outbox
from postpilot.db.review import ReviewQueries
from postpilot.db.series import SeriesRecords
from postpilot.db.summary import Summary
from postpilot.db.users import ReviewUsers
from postpilot.db.workers import Workers
from postpilot.domain.model import USER_FIELDS

__all__ = ["USER_FIELDS", "Repository"]


class Repository(
    AccountRecords,
    FirstComments,
    Duplicates,
    Leases,
    PostActions,
    Approvals,
    MediaRecords,
    Summary,
    Workers,
    Outbox,
    Alerts,
    ReviewUsers,
    ReviewQueries,
    SeriesRecords,
):
    """Every record the daemon and the CLI keep, behind one object (built once by the composition root)."""
