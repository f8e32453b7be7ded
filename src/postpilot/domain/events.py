"""The kinds of ``post_events`` rows: the history ``post show`` prints. One name per thing that happens."""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    CREATED = "created"  # the row was inserted (CLI, import)
    CLAIMED = "claimed"  # a worker took the post to prepare or publish
    RECONCILE = "reconcile"  # a worker took a publishing post whose outcome is unknown
    RELEASED = "released"  # given back on shutdown before its work started
    PREPARED = "prepared"
    CONTAINER_CREATED = "container_created"
    PUBLISH_ATTEMPT = "publish_attempt"
    PUBLISHED = "published"
    SIMULATED = "simulated"  # a dry-run account's publish
    DRY_RUN_REQUESTS = "dry_run_requests"  # the Graph API requests a dry run did not send
    WAITING = "waiting"  # held without spending an attempt
    RETRY_SCHEDULED = "retry_scheduled"  # tried again after a backoff
    NEW_CONTAINER = "new_container"
    FAILED = "failed"
    MISSED = "missed"  # too late to publish
    UNCONFIRMED = "unconfirmed"
    CANCELLED = "cancelled"
    RETRY = "retry"  # a person asked for another try
    EDITED = "edited"  # changed after preparation: prepared again
    AWAITING_APPROVAL = "awaiting_approval"  # prepared; not staged or published until approved
    APPROVED = "approved"
    REJECTED = "rejected"
    REGENERATE = "regenerate"  # a person asked for new images
    PREPARE_REQUESTED = "prepare_requested"  # a person asked for the images now (review page)
    EDITED_TOO_LATE = "edited_too_late"  # changed while media_publish was under way: the earlier version is live
    FIRST_COMMENT = "first_comment"  # the first comment is on the live post (or was found there after a crash)
    FIRST_COMMENT_FAILED = "first_comment_failed"  # a try failed (retried on its own) or was given up
