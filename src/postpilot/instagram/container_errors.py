"""The error of a container that reads ``ERROR``: the subcode in its ``status`` text, looked up in the table.

A container names its cause in ``status`` ("Error: Media upload has failed with error code 2207026"), not in
an error envelope. Its row in ``error_table.ERROR_TABLE`` decides: bad media and bad input fail the post at once
(a new container would fail the same way, and costs minutes of processing and one of the account's 400
containers a day); the rest mean "make a new container".
"""

from __future__ import annotations

import re

from postpilot.domain.errors import NeedsNewContainer, PostpilotError
from postpilot.instagram.error_table import ERROR_TABLE, Meaning, build_error
from postpilot.instagram.throttle import DEFAULT_THROTTLE_S, wait_in_words
from postpilot.redaction import public_url, redact

# The outcome of a container that reads ERROR, by the class of its subcode's row: the container is dead
# either way, so whatever would be "retry the call" becomes "make a new container".
_CONTAINER_OUTCOMES = frozenset({Meaning.BAD_MEDIA, Meaning.PERMANENT, Meaning.FETCH_RETRY, Meaning.NEW_CONTAINER})
_STATUS_SUBCODE = re.compile(r"\b(2207\d{3})\b")


def container_error_subcode(status: str | None) -> int | None:
    """The subcode in a container's ``status`` text ("Error: … error code 2207026"), if any."""
    match = _STATUS_SUBCODE.search(status or "")
    return int(match.group(1)) if match else None


def classify_container_error(
    status: str | None, *, account: str | None = None, media_url: str | None = None
) -> PostpilotError:
    """Our error for a container whose ``status_code`` is ``ERROR`` (returned, not raised)."""
    subcode = container_error_subcode(status)
    rule = None
    if subcode is not None:
        rule = next(
            (r for r in ERROR_TABLE if r.subcode == subcode and (r.stages is None or "status" in r.stages)), None
        )
    tag = f" (Instagram container error {subcode})" if subcode is not None else ""
    if rule is None or rule.outcome not in _CONTAINER_OUTCOMES:
        detail = redact(status or "no reason given")
        return NeedsNewContainer(f"Instagram could not process the media ({detail}); a new container is made." + tag)
    text = rule.message.format(
        meta=redact(status or ""),
        url=public_url(media_url) if media_url else "the URL given",
        account=account or "<account name>",
        wait=wait_in_words(rule.retry_after_s or DEFAULT_THROTTLE_S),
    )
    return build_error(rule.outcome, text + tag, rule.retry_after_s)
