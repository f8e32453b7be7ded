"""The post lifecycle as one table: every status change that exists, and what causes it. The repository
refuses any other (``check``); ``tests/unit/test_lifecycle.py`` walks the table.

```
scheduled ──claim──▶ preparing ──▶ ready ──claim at T──▶ publishing ──▶ published
    │                    │            │                      │
    │                    ▼            ▼                      ├──▶ unconfirmed  (outcome unknown; a human decides)
    │                 failed        failed                   └──▶ failed       (nothing was published)
    └──▶ cancelled (marketer)                     dry-run accounts end in  simulated

An edit after preparation (seen before staging, or before media_publish is sent) takes ready or publishing
back to scheduled, to be prepared again.
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from postpilot.domain.model import PostStatus as S

# (from, to) -> why it happens.
TRANSITIONS: Final[dict[tuple[S, S], str]] = {
    (S.SCHEDULED, S.PREPARING): "claimed for preparation (inside the prepare window)",
    (S.PREPARING, S.PREPARING): "a preparation whose worker vanished is claimed again",
    (S.PREPARING, S.READY): "media prepared and stored",
    (S.PREPARING, S.SCHEDULED): "preparation waits or retries later; or given back on shutdown",
    (S.PREPARING, S.FAILED): "preparation cannot succeed (bad input, refused media), or missed",
    (S.READY, S.PUBLISHING): "claimed at the scheduled instant",
    (S.READY, S.READY): "staging ahead records its trouble; the post stays ready",
    (S.READY, S.FAILED): "staging found the media unusable, or the post was missed",
    (S.PUBLISHING, S.PUBLISHING): "a publish with an unknown outcome is claimed for reconciling",
    (S.PUBLISHING, S.PUBLISHED): "media_publish returned, or reconciling found the post live",
    (S.PUBLISHING, S.SIMULATED): "a dry-run account's publish",
    (S.PUBLISHING, S.READY): "nothing was published: wait, retry, new container; or given back on shutdown",
    (S.PUBLISHING, S.FAILED): "nothing was published and retrying cannot help",
    (S.PUBLISHING, S.UNCONFIRMED): "it cannot be told whether the post is live",
    (S.READY, S.SCHEDULED): "edited after preparation (``pipeline/edits.py``), or new images asked for: prepared again",
    (S.SCHEDULED, S.SCHEDULED): "a person asked for new images before preparation (post regenerate)",
    (S.PUBLISHING, S.SCHEDULED): "edited after preparation, seen right before media_publish: nothing was sent",
    (S.SCHEDULED, S.FAILED): "missed: too late to publish",
    (S.SCHEDULED, S.CANCELLED): "cancelled by a person",
    (S.PREPARING, S.CANCELLED): "cancelled by a person",
    (S.READY, S.CANCELLED): "cancelled by a person",
    (S.FAILED, S.CANCELLED): "cancelled by a person",
    (S.UNCONFIRMED, S.CANCELLED): "cancelled by a person",
    (S.SIMULATED, S.CANCELLED): "cancelled by a person (a dry run published nothing)",
    (S.FAILED, S.SCHEDULED): "a person asked for another try",
    (S.UNCONFIRMED, S.SCHEDULED): "a person checked Instagram and forced another try",
    (S.CANCELLED, S.SCHEDULED): "a person asked for another try",
    (S.SIMULATED, S.SCHEDULED): "a person asked for another try (e.g. after going live)",
}

# Statuses nothing leaves without a person.
FINAL: Final = frozenset({S.PUBLISHED, S.SIMULATED, S.FAILED, S.UNCONFIRMED, S.CANCELLED})


class TransitionNotAllowed(ValueError):
    """A programming error: the code asked for a status change the lifecycle does not have."""


def allowed(source: S, target: S) -> bool:
    return (source, target) in TRANSITIONS


def check(sources: Iterable[S], target: S) -> None:
    """Raise ``TransitionNotAllowed`` unless every ``source`` may move to ``target``."""
    bad = [s for s in sources if not allowed(s, target)]
    if bad:
        raise TransitionNotAllowed(
            f"no transition {', '.join(s.value for s in bad)} -> {target.value} in the lifecycle table"
        )
