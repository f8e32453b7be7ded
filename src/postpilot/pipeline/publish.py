"""The publish step's flow for one post, with the never-twice rules:

1. Container ids are committed before ``media_publish`` is called; so is the moment of the attempt.
2. The media id is committed as soon as ``media_publish`` returns.
3. An unknown outcome is reconciled by reading the container — PUBLISHED: it is live; FINISHED: it is not,
   publish; ERROR/EXPIRED: make new containers; unreadable: ``Unconfirmed``, a human decides.
   ``media_publish`` is never called for a container that may already be published.

These flows raise our errors; ``pipeline.outcome`` turns them into state changes with the retry decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from postpilot.domain import errors
from postpilot.domain.changes import MediaIdReceived, PublishAttempted, PublishRefused
from postpilot.domain.errors import Settling, Unconfirmed
from postpilot.domain.events import EventKind
from postpilot.domain.model import Account, Post, PostStatus, PostType, utcnow
from postpilot.instagram.container_errors import classify_container_error
from postpilot.instagram.graph_api import ContainerStatus, GraphApi, MediaInfo
from postpilot.instagram.quota import PublishingQuota
from postpilot.pipeline.ports import PostStore
from postpilot.pipeline.stage import StagingFlow, StagingPolicy


@dataclass(frozen=True, slots=True)
class PublishResult:
    media_id: str | None
    permalink: str | None = None  # only when already known (recovered from the account's media list)
    recovered: bool = False  # found PUBLISHED while reconciling


class PublishFlow:
    def __init__(
        self,
        *,
        repo: PostStore,
        staging: StagingFlow,
        policy: StagingPolicy,
        quota: PublishingQuota,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repo
        self._staging = staging
        self._policy = policy
        self._quota = quota
        self._sleep = sleep

    def publish(self, graph: GraphApi, post: Post, account: Account, *, owner: str) -> PublishResult:
        """Publish a post we hold in ``publishing``. Never calls media_publish twice for one container."""
        if post.publish_attempted_at is not None:
            # An earlier attempt's outcome was never recorded: check before anything else.
            return self.reconcile(graph, post, account, owner=owner)
        container = self._staging.stage(graph, post, account, owner=owner, status=PostStatus.PUBLISHING)
        self._quota.check(graph, account)
        return self._publish_container(graph, post, account, container, owner=owner)

    def _publish_container(
        self, graph: GraphApi, post: Post, account: Account, container: str, *, owner: str
    ) -> PublishResult:
        # The attempt is committed before the irreversible call, so a crash leaves a trace to reconcile. The
        # FINISHED reading goes with it: once media_publish has been sent, even an error answer may hide a
        # live post, and only a fresh read of the container may say it is safe to send again.
        if not self._repo.update_owned(
            post.id,
            owner=owner,
            status=PostStatus.PUBLISHING,
            change=PublishAttempted(at=utcnow()),
            kind=EventKind.PUBLISH_ATTEMPT,
            detail={"container_id": container},
        ):
            raise errors.Conflict("the post was taken over before publishing")
        try:
            media_id = graph.publish(account.ig_user_id, container)
        except errors.OutcomeUnknown:
            raise
        except errors.PostpilotError as exc:
            if isinstance(exc, errors.QuotaExhausted):
                self._quota.forget(account)  # our reading was out of date: ask again next time
            # Meta answered with an error: this call published nothing, so the next try needs no reconcile.
            self._repo.update_owned(post.id, owner=owner, status=PostStatus.PUBLISHING, change=PublishRefused())
            raise
        self._quota.published(account)
        # Persist the media id at once, with the moment the post went live; the permalink is a nicety that
        # never fails a live post.
        if not self._repo.update_owned(
            post.id, owner=owner, status=PostStatus.PUBLISHING, change=MediaIdReceived(media_id)
        ):
            raise errors.Conflict("lost the lease right after publishing; another replica will reconcile")
        return PublishResult(media_id=media_id)

    def permalink(self, graph: GraphApi, media_id: str) -> str | None:
        """Best effort, after the post is recorded live: a failed read never fails a published post."""
        try:
            return graph.media_info(media_id).permalink
        except errors.PostpilotError:
            return None

    def reconcile(self, graph: GraphApi, post: Post, account: Account, *, owner: str) -> PublishResult:
        """Decide what happened to a post whose publish outcome is unknown. Raises ``Unconfirmed`` when the
        container cannot be read, ``NeedsNewContainer`` when nothing was published and the container is dead."""
        if post.ig_media_id:
            return PublishResult(media_id=post.ig_media_id, recovered=True)
        if post.container_id is None:
            # publish_attempted_at is only ever set after the container id was committed (and both are
            # cleared together), so without a container media_publish was never called for this post.
            container = self._staging.stage(graph, post, account, owner=owner, status=PostStatus.PUBLISHING)
            return self._publish_container(graph, post, account, container, owner=owner)
        container = post.container_id
        state = self._read_container(graph, container)
        code = state.status_code
        if code == "PUBLISHED":
            media = self._find_media(graph, post, account)
            return PublishResult(
                media_id=media.id if media else None,
                permalink=media.permalink if media else None,
                recovered=True,
            )
        if code == "ERROR":
            raise classify_container_error(state.status, account=account.name)  # nothing was published
        if code == "EXPIRED":
            raise errors.NeedsNewContainer(f"the container reads {code}: nothing was published")
        if code == "IN_PROGRESS":
            self._staging.wait_finished(
                graph, container, reel=post.post_type == PostType.REEL.value, account=account.name
            )
        if post.publish_attempted_at is not None:
            age = (utcnow() - post.publish_attempted_at).total_seconds()
            if age < self._policy.settle_s:
                raise Settling(self._policy.settle_s - age)
        return self._publish_container(graph, post, account, container, owner=owner)

    def _read_container(self, graph: GraphApi, container: str) -> ContainerStatus:
        last: Exception | None = None
        for attempt in range(self._policy.read_tries):
            try:
                return graph.container_status(container)
            except (errors.Transient, errors.OutcomeUnknown) as exc:
                last = exc
                self._sleep(min(5.0, 0.5 * 2**attempt))
            except errors.NeedsReconnect as exc:
                raise Unconfirmed(
                    f"the account's token is invalid, so the post cannot be checked ({exc.message})"
                ) from exc
            except errors.PostpilotError as exc:
                raise Unconfirmed(f"Instagram refused to show the container ({exc.message})") from exc
        raise Unconfirmed(f"Instagram did not answer when asked about the container ({_message(last)})")

    def _find_media(self, graph: GraphApi, post: Post, account: Account) -> MediaInfo | None:
        """Recover the media id of a post that went live without telling us: match caption and time among the
        account's recent media. No unique match → leave it empty rather than guess."""
        try:
            recent = graph.recent_media(account.ig_user_id, limit=50)
        except errors.PostpilotError:
            return None
        since = (post.publish_attempted_at or post.scheduled_at) - timedelta(minutes=10)
        caption = (post.caption or "").strip()
        matches = [
            m
            for m in recent
            if (m.caption or "").strip() == caption and (m.timestamp is None or m.timestamp >= _floor(since))
        ]
        return matches[0] if len(matches) == 1 else None


def _floor(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _message(exc: Exception | None) -> str:
    if isinstance(exc, errors.PostpilotError):
        return exc.message
    return "no answer"
