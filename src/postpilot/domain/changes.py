"""What the pipeline asks the repository to record about a post, as typed records instead of column dicts.

Each change is applied by the repository in one guarded ``UPDATE`` (with the post's event, when it has one);
``db/changes.py`` turns it into column values, and only there does database time appear ("now", "now plus
a delay"). The pipeline never sees a column name or an SQL expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from postpilot.domain.model import MediaSource


@dataclass(frozen=True, slots=True)
class NewMedia:
    """One stored media item to record (``post_media``), as the prepare step produced it."""

    position: int
    source: MediaSource
    stored_url: str
    width: int
    height: int
    bytes: int
    checksum: str
    kind: str = "image"
    source_url: str | None = None
    prompt: str | None = None
    model: str | None = None
    cost_usd: float = 0.0
    alt_text: str | None = None


# --- preparing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaFilled:
    """The post is prepared: fill what the marketer left empty so the row shows what will be published (a
    marketer's own URLs are never overwritten; None leaves a column as it is)."""

    image_url: str | None = None
    media_urls: list[str] | None = None
    alt_text: str | None = None
    prepared_content: dict[str, Any] | None = None  # what was prepared (``domain.edits.PreparedContent``)
    # Columns that still hold our own earlier fill (a retry): those are written over, the rest only if empty.
    refill: tuple[str, ...] = ()


# --- staging and publishing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerCreated:
    container_id: str


@dataclass(frozen=True, slots=True)
class ContainerReady:
    """The container read FINISHED now (database time): publishing may trust it for a while."""


@dataclass(frozen=True, slots=True)
class PublishAttempted:
    """``media_publish`` is about to be called: the trace a crash leaves for the reconcile. The FINISHED
    reading is forgotten with it (an error answer after this may hide a live post)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class PublishRefused:
    """Meta answered the publish with an error: nothing was published, the next try needs no reconcile."""


@dataclass(frozen=True, slots=True)
class MediaIdReceived:
    """``media_publish`` returned the media id: recorded at once, with the moment (database time)."""

    media_id: str


@dataclass(frozen=True, slots=True)
class Published:
    """The post is live (or simulated). ``published_at`` keeps the moment ``media_publish`` returned when it
    was recorded then; a recovered post gets the time postpilot found it."""

    media_id: str | None
    permalink: str | None


# --- trouble -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StagingTrouble:
    """Staging ahead failed; the post stays ready. ``drop_container``: the container is dead, make another."""

    message: str
    drop_container: bool = False
    container_attempts: int = 0


@dataclass(frozen=True, slots=True)
class TryLater:
    """Look at the post again after ``delay_s`` (database time). ``attempts`` is set when the try counted;
    ``drop_container`` starts again from a new container (and forgets the publish attempt)."""

    message: str
    delay_s: float
    attempts: int | None = None
    drop_container: bool = False
    container_attempts: int = 0


@dataclass(frozen=True, slots=True)
class CheckingLater:
    """A publish whose outcome is unknown cannot be checked right now (e.g. the account is rate-limited):
    the post stays ``publishing`` (it may be live) and says when it is looked at again."""

    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    message: str
    attempts: int


@dataclass(frozen=True, slots=True)
class MarkedUnconfirmed:
    message: str


PostChange = (
    MediaFilled
    | ContainerCreated
    | ContainerReady
    | PublishAttempted
    | PublishRefused
    | MediaIdReceived
    | Published
    | StagingTrouble
    | TryLater
    | CheckingLater
    | Failed
    | MarkedUnconfirmed
)
