"""What is worth telling a person, in plain words with what to do (issue 14). Pure: no delivery, no database.

A ``Notice`` is built where the state change happens and written to the outbox in the same transaction
(``db/outbox.py``); the sender (``notify/``) delivers it afterwards to every channel that wants its kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


class NoticeKind(enum.StrEnum):
    FAILED = "failed"  # nothing was published and retrying cannot help
    UNCONFIRMED = "unconfirmed"  # it cannot be told whether the post is live
    MISSED = "missed"  # too late to publish
    PUBLISHED = "published"  # live (off unless POSTPILOT_NOTIFY_PUBLISHED or an account asks for it)
    RECONNECT = "reconnect"  # the account's token stopped working
    APPROVAL = "approval"  # prepared, and waiting for a person's approval
    TOKEN_EXPIRING = "token_expiring"  # noqa: S105  # the account's token runs out within 7 days
    AT_RISK = "at_risk"  # a post due within the hour cannot go out as things stand (its account's token)
    BUDGET = "budget"  # the daily image budget is spent: no new images until tomorrow
    DEPENDENCY = "dependency"  # the configured image model or Graph API version nears its end, or has ended


# What every channel gets unless it names its own list; a live post is good news, told only when asked.
DEFAULT_KINDS = frozenset(set(NoticeKind) - {NoticeKind.PUBLISHED})


def parse_kinds(text: str) -> frozenset[NoticeKind]:
    """``failed,unconfirmed`` → the kinds; an unknown name is refused with the list of known ones."""
    kinds = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        try:
            kinds.add(NoticeKind(part))
        except ValueError:
            known = ", ".join(k.value for k in NoticeKind)
            raise ValueError(f"unknown event {part!r}; the events are: {known}") from None
    if not kinds:
        raise ValueError("name at least one event, e.g. failed,unconfirmed")
    return frozenset(kinds)


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    dedupe_key: str  # the same event is queued once, whoever notices it first
    title: str
    body: str
    post_id: int | None = None
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What a message says about a post (read in the transaction that changes it)."""

    post_id: int
    account: str
    scheduled_at: datetime
    caption: str
    account_id: int | None = None
    time_zone: str = "UTC"


def _when(moment: datetime, zone: str) -> str:
    try:
        local = moment.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        local, zone = moment, "UTC"
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def _reconnect_command(account: str) -> str:
    return f"postpilot account connect {account}"


def _caption(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:79] + "…"


def post_notice(kind: NoticeKind, facts: PostFacts, *, reason: str | None, attempt: int, link: str | None) -> Notice:
    """``attempt`` keeps two separate failures of the same post (after a retry) apart in the dedupe key."""
    when = _when(facts.scheduled_at, facts.time_zone)
    where = link or f"postpilot post show {facts.post_id}"
    subject = f"post {facts.post_id} for {facts.account} ({when})"
    if kind is NoticeKind.FAILED:
        title = f"postpilot: {subject} failed"
        todo = f"Fix the cause, then run: postpilot post retry {facts.post_id}"
    elif kind is NoticeKind.UNCONFIRMED:
        title = f"postpilot: {subject} may or may not be live"
        todo = (
            f"Look at the account on Instagram. If the post is not there: postpilot post retry {facts.post_id} "
            "--force; if it is, leave it."
        )
    elif kind is NoticeKind.MISSED:
        title = f"postpilot: {subject} was missed"
        todo = (
            f"Give it a new time (postpilot post edit {facts.post_id} --at …), then postpilot post retry "
            f"{facts.post_id}"
        )
    elif kind is NoticeKind.APPROVAL:
        title = f"postpilot: {subject} is ready and waits for approval"
        todo = (
            f"Look at it (postpilot post show {facts.post_id}), then: postpilot post approve {facts.post_id}, or "
            f"postpilot post reject {facts.post_id} --reason '…'. Unapproved, it is not published."
        )
    elif kind is NoticeKind.PUBLISHED:
        title = f"postpilot: {subject} is live"
        todo = f"See it: {link}" if link else "Nothing to do."
    else:
        raise ValueError(f"{kind} is not about a post")
    lines = [f'"{_caption(facts.caption)}"' if facts.caption else "(no caption)"]
    if reason:
        lines.append(f"Why: {reason}")
    lines += [todo, f"Details: {where}"]
    return Notice(
        kind=kind,
        dedupe_key=f"{kind.value}:post:{facts.post_id}:{attempt}",
        title=title,
        body="\n".join(lines),
        post_id=facts.post_id,
        account_id=facts.account_id,
    )


def reconnect_notice(account_id: int, account: str, reason: str, *, since: datetime) -> Notice:
    return Notice(
        kind=NoticeKind.RECONNECT,
        dedupe_key=f"reconnect:account:{account_id}:{since:%Y%m%d%H%M}",
        title=f"postpilot: the Instagram account {account} must be reconnected",
        body=f"Why: {reason}\nIts posts wait until you run: postpilot account connect {account}",
        account_id=account_id,
    )


def token_expiring_notice(
    account_id: int, account: str, *, expires_at: datetime, time_zone: str, refresh_error: str | None
) -> Notice:
    """Once per token (the expiry is in the key): a reconnect or a refresh brings a new expiry, and a new
    notice only if that one nears too."""
    why = f"The automatic refresh failed: {refresh_error}" if refresh_error else "It cannot be refreshed automatically."
    return Notice(
        kind=NoticeKind.TOKEN_EXPIRING,
        dedupe_key=f"token-expiring:account:{account_id}:{expires_at:%Y%m%d%H%M}",
        title=f"postpilot: the Instagram account {account} stops working on {_when(expires_at, time_zone)}",
        body=(
            f"Its access token runs out then. {why}\n"
            f"Reconnect it before that, or its posts wait: {_reconnect_command(account)}"
        ),
        account_id=account_id,
    )


def at_risk_notice(facts: PostFacts, *, reason: str) -> Notice:
    """A post due within the hour that will not go out as things stand; once per post and scheduled time."""
    when = _when(facts.scheduled_at, facts.time_zone)
    return Notice(
        kind=NoticeKind.AT_RISK,
        dedupe_key=f"at-risk:post:{facts.post_id}:{facts.scheduled_at:%Y%m%d%H%M}",
        title=f"postpilot: post {facts.post_id} for {facts.account} ({when}) will not go out unless you act",
        body="\n".join(
            [
                f'"{_caption(facts.caption)}"' if facts.caption else "(no caption)",
                f"Why: {reason}",
                f"Reconnect the account now: {_reconnect_command(facts.account)}",
                f"Details: postpilot post show {facts.post_id}",
            ]
        ),
        post_id=facts.post_id,
        account_id=facts.account_id,
    )


def budget_notice(*, budget_usd: float, spent_usd: float, day: datetime) -> Notice:
    """Once per UTC day: every refused generation that day says the same thing."""
    return Notice(
        kind=NoticeKind.BUDGET,
        dedupe_key=f"budget:{day:%Y%m%d}",
        title=f"postpilot: the daily image budget of ${budget_usd:.2f} is spent",
        body=(
            f"${spent_usd:.2f} was spent on generated images today (UTC). Posts that need a new image wait until "
            "midnight UTC and are late if they are due before then.\n"
            "To go on today, raise POSTPILOT_DAILY_IMAGE_BUDGET_USD and restart postpilot, or give those posts "
            "an image_url."
        ),
    )


def dependency_notice(*, component: str, name: str, state: str, message: str, ends_on: str | None) -> Notice:
    """Once per dependency, end date and state: "ending" (within its warning window), then "gone"."""
    what = "the OpenAI image model" if component == "openai_model" else "the Graph API version"
    headline = "has ended" if state == "gone" else f"ends on {ends_on}" if ends_on else "is ending"
    return Notice(
        kind=NoticeKind.DEPENDENCY,
        dedupe_key=f"dependency:{component}:{name}:{ends_on or '-'}:{state}",
        title=f"postpilot: {what} {name} {headline}",
        body=message,
    )
