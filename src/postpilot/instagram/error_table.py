"""Meta's Graph API errors as data, and the one pure function that turns an error into ours.

Every Graph API error arrives as ``{"error": {"message", "type", "code", "error_subcode", "is_transient",
"error_user_title", "error_user_msg", "fbtrace_id"}}`` (usually with HTTP 400; 5xx only for real server
faults). ``ERROR_TABLE`` lists the codes we know, what they mean for a post, and the sentence a marketer
reads. ``classify_graph_error`` looks a (code, subcode) up in it, most specific row first, and *returns* the
error for the caller to raise; it does no I/O.

Choices worth knowing (the reference leaves them open):

- Meta's generic server errors (codes 1, 2, -1, or ``is_transient``) and any 5xx or 408 during ``media_publish``
  become ``OutcomeUnknown``, not ``Transient``: Meta's publish has no idempotency key and can fail after it
  applied, so the flow must read the container before publishing again. Elsewhere they are ``Transient``.
- 24/2207008 (container not found, "can be temporary") is ``Transient`` with a 30 s wait. The classifier
  cannot count, so the publishing flow decides when to give up: after two of these for one container it
  should treat the container as unusable and make a new one.
- 9004/2207052 (Instagram could not download the media) comes at container creation, so nothing is live,
  and it is often temporary (one image of several from the same host). It is ``MediaFetchFailed``: creating
  the container is tried again after a short pause, at most ``RetryPolicy.max_new_containers`` times, and
  only then does the post fail, with the message telling the marketer to make the URL public.
- A container that reads ``ERROR`` names its cause in ``status`` ("Error: Media upload has failed with error
  code 2207026"). ``classify_container_error`` (``container_errors.py``) looks that subcode up in the same
  table: bad media and bad input fail the post at once (a new container would fail the same way, and costs
  minutes of processing and one of the account's 400 containers a day); the rest mean "make a new container".
- 4/2207051 (activity restricted as possible spam) means "may be live anyway" during publish
  (``OutcomeUnknown``); before publish nothing can be live, so it is ``Throttled`` for an hour.
- 100/33 (object does not exist / not visible) right after creating something (status, read, publish) is a
  short ``Transient``; at container creation it means the account's Instagram user id is wrong or out of
  the token's reach, so the account needs reconnecting.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from postpilot.domain.errors import (
    BadMedia,
    MediaFetchFailed,
    NeedsNewContainer,
    NeedsReconnect,
    OutcomeUnknown,
    Permanent,
    PostpilotError,
    QuotaExhausted,
    Throttled,
    Transient,
    Waiting,
)
from postpilot.instagram.throttle import DEFAULT_THROTTLE_S, throttle_wait_s, wait_in_words
from postpilot.redaction import public_url, redact

Stage = Literal["create", "status", "publish", "read", "oauth"]


class Meaning(enum.Enum):
    """What an error means for the post; each maps to one class of our error tree."""

    TRANSIENT = "transient"
    THROTTLED = "throttled"
    QUOTA = "quota"
    RECONNECT = "reconnect"
    NEW_CONTAINER = "new_container"
    PERMANENT = "permanent"
    BAD_MEDIA = "bad_media"
    FETCH_RETRY = "fetch_retry"
    UNKNOWN = "outcome_unknown"


_ERROR_CLASS: dict[Meaning, type[PostpilotError]] = {
    Meaning.TRANSIENT: Transient,
    Meaning.THROTTLED: Throttled,
    Meaning.QUOTA: QuotaExhausted,
    Meaning.RECONNECT: NeedsReconnect,
    Meaning.NEW_CONTAINER: NeedsNewContainer,
    Meaning.PERMANENT: Permanent,
    Meaning.BAD_MEDIA: BadMedia,
    Meaning.FETCH_RETRY: MediaFetchFailed,
    Meaning.UNKNOWN: OutcomeUnknown,
}
# Pause before creating a container again after Instagram failed to download the media.
FETCH_RETRY_S = 60.0


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row of the table.

    ``subcode=None`` matches any subcode not claimed by a more specific row; ``stages=None`` any stage.
    ``message`` may use ``{meta}`` (Meta's own text), ``{url}`` (the media URL without its query),
    ``{account}`` and ``{wait}`` (a throttle's wait in words).
    """

    codes: frozenset[int]
    subcode: int | None
    outcome: Meaning
    message: str
    retry_after_s: float | None = None
    stages: frozenset[Stage] | None = None


def _rule(
    codes: int | Iterable[int],
    subcode: int | None,
    outcome: Meaning,
    message: str,
    *,
    retry_after_s: float | None = None,
    stages: Iterable[Stage] | None = None,
) -> ErrorRule:
    code_set = frozenset([codes]) if isinstance(codes, int) else frozenset(codes)
    return ErrorRule(code_set, subcode, outcome, message, retry_after_s, None if stages is None else frozenset(stages))


_THROTTLED = "Instagram's rate limit was reached; calls pause for {wait}."
_RECONNECT = "Run: postpilot account connect {account}"
_SERVER_TROUBLE = "Instagram had a temporary server problem ({meta}); it will be retried."
_PUBLISH_UNSURE = (
    "Instagram reported a server problem while publishing ({meta}); the post may be live anyway, "
    "so it is checked before anything else."
)
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 341, 80002})
AFTER_CREATION: tuple[Stage, ...] = ("status", "read", "publish")
NOT_PUBLISH: tuple[Stage, ...] = ("create", "status", "read", "oauth")

ERROR_TABLE: tuple[ErrorRule, ...] = (
    # --- Meta's own trouble ---------------------------------------------------------------------------
    # While connecting an account, code 1 ("Error validating client secret") and 101 (bad app id) are
    # about our app's credentials, not a passing fault: say so instead of retrying.
    _rule(
        (1, 101),
        None,
        Meaning.PERMANENT,
        "Meta refused the app's credentials or the login ({meta}); check the app id, secret and "
        "redirect address, then start again.",
        stages=["oauth"],
    ),
    _rule((1, 2, -1), None, Meaning.UNKNOWN, _PUBLISH_UNSURE, stages=["publish"]),
    _rule((1, 2, -1), None, Meaning.TRANSIENT, _SERVER_TROUBLE),
    # -1/2207001 (server error) is the wildcard row above; these two only name the failure better.
    # During publish they fall back to the wildcard publish row (outcome unknown).
    _rule(
        -1,
        2207032,
        Meaning.TRANSIENT,
        "Instagram failed to create the media container; it will be retried.",
        stages=NOT_PUBLISH,
    ),
    _rule(
        -1,
        2207053,
        Meaning.TRANSIENT,
        "Instagram had an unknown upload error; it will be retried.",
        stages=NOT_PUBLISH,
    ),
    # --- rate limits and quota ----------------------------------------------------------------------
    _rule(RATE_LIMIT_CODES, None, Meaning.THROTTLED, _THROTTLED),
    _rule(
        4,
        2207051,
        Meaning.UNKNOWN,
        "Instagram flagged the publish as possible spam, but the post may be live anyway; "
        "it is checked before anything else.",
        stages=["publish"],
    ),
    _rule(
        4,
        2207051,
        Meaning.THROTTLED,
        "Instagram restricted this account's activity as possible spam; nothing was published. "
        "postpilot tries again in an hour.",
        retry_after_s=3600,
    ),
    _rule(
        9,
        2207042,
        Meaning.QUOTA,
        "The account reached Instagram's daily publishing limit; the post waits for a free slot.",
    ),
    # --- the container's life ----------------------------------------------------------------------
    _rule(
        9007,
        2207027,
        Meaning.TRANSIENT,
        "Instagram is still processing the media; publishing is tried again shortly.",
        retry_after_s=5,
    ),
    _rule(
        24,
        2207008,
        Meaning.TRANSIENT,
        "Instagram cannot find the media container right now (this can be temporary); publishing is "
        "retried, then a new container is made.",
        retry_after_s=30,
    ),
    _rule(
        -2,
        2207020,
        Meaning.NEW_CONTAINER,
        "The Instagram media container expired (they live 24 hours); a new one is made.",
    ),
    _rule(24, 2207006, Meaning.NEW_CONTAINER, "Instagram cannot find the media container; a new one is made."),
    _rule(
        -2,
        2207003,
        Meaning.NEW_CONTAINER,
        "Instagram timed out downloading the media from {url}; a new container is made.",
    ),
    _rule(
        100,
        33,
        Meaning.TRANSIENT,
        "Instagram does not show the new object yet (normal right after creating it); retrying shortly.",
        retry_after_s=2,
        stages=AFTER_CREATION,
    ),
    _rule(
        100,
        33,
        Meaning.RECONNECT,
        "Instagram does not know this account's user id, or the token cannot reach it. " + _RECONNECT,
    ),
    # --- the token ---------------------------------------------------------------------------------
    _rule(190, 463, Meaning.RECONNECT, "The Instagram token for this account has expired. " + _RECONNECT),
    _rule(
        190,
        460,
        Meaning.RECONNECT,
        "The Instagram token for this account stopped working because the password was changed. " + _RECONNECT,
    ),
    _rule(
        190,
        458,
        Meaning.RECONNECT,
        "The Instagram token for this account stopped working because the app was removed from the "
        "account. " + _RECONNECT,
    ),
    _rule(
        190,
        492,
        Meaning.RECONNECT,
        "The Instagram token for this account no longer works: the user is not an admin of the Facebook "
        "Page any more. " + _RECONNECT,
    ),
    _rule(
        190,
        467,
        Meaning.RECONNECT,
        "The Instagram token for this account is invalid (logged out or revoked). " + _RECONNECT,
    ),
    _rule((190, 102), None, Meaning.RECONNECT, "The Instagram token for this account is invalid. " + _RECONNECT),
    _rule(
        (10, *range(200, 300)),
        None,
        Meaning.RECONNECT,
        "The Instagram token for this account lacks a permission postpilot needs ({meta}). "
        + _RECONNECT
        + " and allow every permission it asks for; if your role on the Facebook Page was given in Business "
        "Manager, add --business-manager so the login also asks for ads_read.",
    ),
    _rule(
        25,
        2207050,
        Meaning.PERMANENT,
        "The Instagram account is restricted; the owner must act in the Instagram app.",
    ),
    # --- the media and the caption -------------------------------------------------------------------
    _rule(
        9004,
        2207052,
        Meaning.FETCH_RETRY,
        "Instagram could not download the media from {url}; make sure the URL is public.",
        retry_after_s=FETCH_RETRY_S,
    ),
    _rule(36000, 2207004, Meaning.BAD_MEDIA, "The image is larger than Instagram's 8 MiB limit."),
    _rule(36001, 2207005, Meaning.BAD_MEDIA, "Instagram does not accept the image's format; use a JPEG."),
    _rule(36003, 2207009, Meaning.BAD_MEDIA, "The image's aspect ratio is outside 4:5 to 1.91:1."),
    _rule(
        36004,
        2207010,
        Meaning.PERMANENT,
        "The caption is longer than 2,200 characters, or has more than 30 hashtags or 20 @mentions.",
    ),
    _rule(100, 2207028, Meaning.PERMANENT, "A carousel needs 2 to 10 items."),
    _rule(100, 2207023, Meaning.BAD_MEDIA, "Instagram does not recognise the media type."),
    _rule(
        352,
        2207026,
        Meaning.BAD_MEDIA,
        "Instagram does not accept the video: reels need MP4 or MOV (H.264 or HEVC), 3 seconds to "
        "15 minutes, at most 300 MB.",
    ),
    _rule(1, 2207057, Meaning.PERMANENT, "The reel's cover frame offset is outside the video."),
)


def find_rule(code: int | None, subcode: int | None, during: Stage) -> ErrorRule | None:
    """The most specific row for (code, subcode) at this stage: exact subcode rows before wildcard rows."""
    if code is None:
        return None
    for want_subcode in (subcode, None) if subcode is not None else (None,):
        for rule in ERROR_TABLE:
            stage_ok = rule.stages is None or during in rule.stages
            if code in rule.codes and rule.subcode == want_subcode and stage_ok:
                return rule
    return None


def classify_graph_error(
    *,
    http_status: int,
    code: int | None,
    subcode: int | None,
    is_transient: bool | None,
    message: str,
    user_msg: str | None,
    headers: Mapping[str, str],
    during: Stage,
    account: str | None = None,
    media_url: str | None = None,
) -> PostpilotError:
    """Our error for one Graph API error response (returned, not raised).

    ``code``/``subcode`` are None when the body was not Meta's JSON envelope (an HTML 502 from a proxy).
    ``account`` names the account in reconnect instructions; ``media_url`` is shown (without its query,
    which may hold a signature) when Instagram could not download the media.
    """
    meta = redact(user_msg or message or "").strip() or f"HTTP {http_status}"
    tag = "" if code is None else f" (Instagram error {code}{'' if subcode is None else f'/{subcode}'})"

    if during == "publish" and (http_status >= 500 or http_status == 408):
        # A 5xx or a 408 can come from a proxy after Meta applied the publish: only reading the container
        # can tell.
        return OutcomeUnknown(_PUBLISH_UNSURE.format(meta=meta) + tag)

    rule = find_rule(code, subcode, during)
    if rule is not None:
        outcome, template, retry_after_s = rule.outcome, rule.message, rule.retry_after_s
    elif is_transient:
        outcome, template, retry_after_s = Meaning.TRANSIENT, _SERVER_TROUBLE, None
        if during == "publish":
            outcome, template = Meaning.UNKNOWN, _PUBLISH_UNSURE
    elif http_status == 429:
        outcome, template, retry_after_s = (
            Meaning.THROTTLED,
            _THROTTLED,
            None,
        )
    elif http_status == 401:
        outcome, template, retry_after_s = (
            Meaning.RECONNECT,
            "Instagram refused the account's token. " + _RECONNECT,
            None,
        )
    elif http_status >= 500 or http_status == 408:
        outcome, template, retry_after_s = Meaning.TRANSIENT, _SERVER_TROUBLE, None
    else:
        outcome, template, retry_after_s = Meaning.PERMANENT, "Instagram refused the request: {meta}", None

    if outcome is Meaning.THROTTLED and retry_after_s is None:
        retry_after_s = throttle_wait_s(headers)
    text = template.format(
        meta=meta,
        url=public_url(media_url) if media_url else "the URL given",
        account=account or "<account name>",
        wait=wait_in_words(retry_after_s or DEFAULT_THROTTLE_S),
    )
    return build_error(outcome, text + tag, retry_after_s)


def build_error(outcome: Meaning, message: str, retry_after_s: float | None) -> PostpilotError:
    cls = _ERROR_CLASS[outcome]
    if issubclass(cls, Transient | Waiting | NeedsNewContainer):
        return cls(message, retry_after_s=retry_after_s)
    return cls(message)
