"""postpilot's error tree.

Adapters catch the exceptions of SDKs and HTTP clients and re-raise one of these (``raise … from exc``);
nothing outside an adapter ever sees an SDK exception. Each class's docstring is its default message, and
every message is written for a marketer or an operator, never containing a secret.

    PostpilotError
    ├── ConfigError            the settings are wrong; the process cannot do its job (exit code 2)
    ├── NotFound               a post or an account the user named does not exist
    ├── Conflict               the request does not fit the current state (e.g. retrying a published post)
    ├── InvalidInput           a post (or a CSV row, a CLI flag) breaks a rule; fix the input
    ├── Transient              retry later with backoff: network, 5xx, timeouts
    │   └── Throttled          a rate limit: wait at least ``retry_after_s`` before calling again
    │       └── SlowingDown    our own pause: Meta's usage figures are near a limit, non-urgent calls wait
    ├── Permanent              retrying cannot help: the post fails with this message
    │   ├── DuplicateHeld      repeats a recent post of the account: held until a person confirms
    │   ├── ContentRejected    a safety system refused the prompt or the media
    │   └── BadMedia           media that cannot be fetched, decoded or made Instagram-ready
    ├── Waiting                nothing is wrong with the post; it waits without spending attempts
    │   ├── QuotaExhausted     Instagram's publishing limit or our daily image budget is used up
    │   ├── NeedsReconnect     the account's token is invalid or lacks a scope
    │   └── ProviderBlocked    a provider refuses us as a customer (billing, bad API key)
    ├── NeedsNewContainer      the Graph API container is unusable (ERROR / EXPIRED): make a new one
    │   └── MediaFetchFailed   Instagram could not download the media (often temporary): try again, a few times
    ├── OutcomeUnknown         an irreversible call may or may not have happened: reconcile, never repeat
    ├── Settling               a publish request may still be in flight at Meta: look again shortly
    └── Unconfirmed            reconciling could not tell whether the post is live: a human decides
"""

from __future__ import annotations


class PostpilotError(Exception):
    """Something went wrong."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or "").strip().splitlines()[0]
        super().__init__(self.message)


class ConfigError(PostpilotError):
    """The configuration is invalid."""


class NotFound(PostpilotError):
    """No such object."""


class Conflict(PostpilotError):
    """That does not fit the current state."""


class InvalidInput(PostpilotError):
    """The input breaks a rule."""


class UnreadableRow(InvalidInput):
    """A row the database holds but postpilot cannot read (a value written around the database's guards): it
    is named, with its column, and left out of listings and passes instead of stopping them."""


class Transient(PostpilotError):
    """A temporary problem; it will be retried."""

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServerError(Transient):
    """The service answered with a temporary error (5xx and the like): the request was refused, so nothing was
    done or billed, unlike a timeout, after which the work may have happened."""


class Throttled(Transient):
    """A rate limit was hit; calls pause until it clears."""


class SlowingDown(Throttled):
    """Meta's usage figures are near a limit, so postpilot holds back calls that can wait."""


class Permanent(PostpilotError):
    """A problem that retrying cannot fix."""


class DuplicateHeld(Permanent):
    """The post repeats a recent one of its account (``domain.duplicates``): held until a person confirms."""


class ContentRejected(Permanent):
    """The content was rejected by a safety system."""


class BadMedia(Permanent):
    """The media cannot be used."""


class Waiting(PostpilotError):
    """The post waits; nothing is wrong with it."""

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExhausted(Waiting):
    """A daily limit is used up; the post waits for the window to free up."""


class NeedsReconnect(Waiting):
    """The Instagram account must be reconnected (postpilot account connect)."""


class ProviderBlocked(Waiting):
    """A provider refused the request for an account reason (billing or API key)."""


class NeedsNewContainer(PostpilotError):
    """The Instagram container cannot be published; a new one is needed."""

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class MediaFetchFailed(NeedsNewContainer):
    """Instagram could not download the media; this is often temporary, so creating the container is tried
    again a bounded number of times (``RetryPolicy.max_new_containers``) before the post fails."""


class OutcomeUnknown(PostpilotError):
    """The publish request may or may not have gone through; it must be checked before anything else."""


class Settling(PostpilotError):
    """A publish request may still be in flight at Meta; look again shortly."""

    def __init__(self, wait_s: float) -> None:
        super().__init__("waiting to confirm an earlier publish attempt")
        self.wait_s = wait_s


class Unconfirmed(PostpilotError):
    """postpilot cannot tell whether Instagram published this post."""
