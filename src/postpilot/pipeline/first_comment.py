"""The first comment (issue 16): posted on the live post right after it is published, on its own.

It never touches the post's status: a failure is recorded in ``first_comment_error`` and the history, tried
again after a backoff (1, 5, 15, 60 minutes), and given up after ``FIRST_COMMENT_MAX_ATTEMPTS`` tries or at
once when retrying cannot help. Posting a comment cannot be undone or asked about, so before each try the
post's comments are read: a comment of ours with the same text (left by a try whose answer was lost, or by a
process killed after Instagram made it) is recorded instead of being posted again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from postpilot.domain import errors
from postpilot.domain.model import Account, Post
from postpilot.domain.publish_options import FIRST_COMMENT_MAX_ATTEMPTS
from postpilot.logging import get_logger
from postpilot.pipeline.ports import GraphFactory

log = get_logger("postpilot.first_comment")

BACKOFF_S: Sequence[float] = (60.0, 300.0, 900.0, 3600.0)
# Retrying cannot help these: the text, the permission or the post itself is wrong.
# A missing permission (NeedsReconnect) waits for a person too: reconnect, then post comment-retry.
GIVE_UP_ON = (errors.Permanent, errors.InvalidInput, errors.ConfigError, errors.NotFound, errors.NeedsReconnect)


class CommentStore(Protocol):
    def account(self, account_id: int) -> Account | None: ...

    def claim_first_comments(
        self, *, owner: str, lease_s: float, batch: int = 10, post_id: int | None = None
    ) -> list[Post]: ...

    def first_comment_posted(self, post_id: int, *, owner: str, comment_id: str, found: bool) -> bool: ...

    def first_comment_failed(self, post_id: int, *, owner: str, error: str, retry_in_s: float | None) -> None: ...


class FirstCommentFlow:
    def __init__(self, *, repo: CommentStore, graphs: GraphFactory, owner: str, lease_s: float) -> None:
        self._repo = repo
        self._graphs = graphs
        self.owner = owner
        self._lease_s = lease_s

    def run_due(self, *, batch: int = 10, post_id: int | None = None) -> int:
        """Post every first comment that is due (or only ``post_id``'s); returns how many were posted."""
        posted = 0
        for post in self._repo.claim_first_comments(
            owner=self.owner, lease_s=self._lease_s, batch=batch, post_id=post_id
        ):
            posted += self._post(post)
        return posted

    def _post(self, post: Post) -> bool:
        message = (post.first_comment or "").strip()
        account = self._repo.account(post.account_id)
        assert post.ig_media_id is not None  # the claim asks for it
        try:
            if account is None:
                raise errors.NotFound("the account no longer exists")
            graph = self._graphs(account, urgent=False).api
            existing = next((c for c in graph.comments(post.ig_media_id) if c.text.strip() == message), None)
            if existing is not None:
                log.info("first_comment_found", post_id=post.id, comment_id=existing.id)
                return self._repo.first_comment_posted(post.id, owner=self.owner, comment_id=existing.id, found=True)
            comment_id = graph.post_comment(post.ig_media_id, message)
        except Exception as exc:
            self._failed(post, exc)
            return False
        log.info("first_comment_posted", post_id=post.id, comment_id=comment_id)
        return self._repo.first_comment_posted(post.id, owner=self.owner, comment_id=comment_id, found=False)

    def _failed(self, post: Post, exc: Exception) -> None:
        text = exc.message if isinstance(exc, errors.PostpilotError) else f"unexpected {type(exc).__name__}"
        tries = post.first_comment_attempts + 1
        retry_in: float | None = None
        if not isinstance(exc, GIVE_UP_ON) and tries < FIRST_COMMENT_MAX_ATTEMPTS:
            retry_in = BACKOFF_S[min(tries - 1, len(BACKOFF_S) - 1)]
        log.warning("first_comment_failed", post_id=post.id, error=type(exc).__name__, retry_in_s=retry_in)
        self._repo.first_comment_failed(post.id, owner=self.owner, error=text, retry_in_s=retry_in)
