"""The stage and publish flows for one post over a ``GraphApi``, with the never-twice rules:

1. Container ids are committed before ``media_publish`` is called; so is the moment of the attempt.
2. The media id is committed as soon as ``media_publish`` returns.
3. An unknown outcome is reconciled by reading the container — PUBLISHED: it is live; FINISHED: it is not,
   publish; ERROR/EXPIRED: make new containers; unreadable: ``unconfirmed``, a human decides.
   ``media_publish`` is never called for a container that may already be published.

These flows raise our errors; the pipeline turns them into state changes with the retry decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from postpilot.db.repository import Repository
from postpilot.db.types import db_now
from postpilot.domain import errors
from postpilot.domain.model import Account, Post, PostMedia, PostStatus, PostType, utcnow
from postpilot.instagram.client import ContainerStatus, GraphApi, MediaInfo
from postpilot.instagram.error_table import classify_container_error
from postpilot.instagram.quota import PublishingQuota

# Meta: "We recommend querying a container's status once per minute, for no more than 5 minutes" (Content
# Publishing guide). Reads count against the account's rate limits, so staging follows that, with two
# exceptions that cost at most one read each: an image is read at once and again after a few seconds (images
# are usually ready in a second or two, and a post staged at its minute must not wait a whole minute), and a
# reel's first read waits a little (video processing takes at least tens of seconds). A container still
# processing after the window is looked at again by a later staging pass, well before the post is due
# (POSTPILOT_STAGE_AHEAD_S).
IMAGE_WAIT_S = 300.0
REEL_WAIT_S = 300.0
IMAGE_SECOND_LOOK_S = 5.0
REEL_FIRST_LOOK_S = 30.0
NOT_VISIBLE_RETRIES = 4  # reads of a fresh object can answer 100/33 for a moment


def read_delays(*, poll_s: float, reel: bool) -> Iterator[float]:
    """Seconds to sleep before each status read of a new container (an endless schedule; the caller stops
    at its deadline)."""
    if reel:
        yield min(REEL_FIRST_LOOK_S, poll_s)
    else:
        yield 0.0
        yield min(IMAGE_SECOND_LOOK_S, poll_s)
    while True:
        yield poll_s


@dataclass(frozen=True, slots=True)
class StagingPolicy:
    poll_s: float = 60.0
    image_wait_s: float = IMAGE_WAIT_S
    reel_wait_s: float = REEL_WAIT_S
    # After a publish attempt whose answer was lost, a FINISHED container is only trusted as "not published"
    # once this long has passed: Meta may still be processing the request we sent.
    settle_s: float = 90.0
    read_tries: int = 3
    # A container read FINISHED this recently is published without reading it again (containers live 24 h;
    # one that expired anyway is refused by media_publish, which publishes nothing, and gets a new container).
    ready_trust_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class PublishResult:
    media_id: str | None
    permalink: str | None = None  # only when already known (recovered from the account's media list)
    recovered: bool = False  # found PUBLISHED while reconciling


class StagingFlow:
    """Creates the containers of a post (persisting each id at once) and waits until they are FINISHED."""

    def __init__(
        self,
        *,
        repo: Repository,
        policy: StagingPolicy,
        quota: PublishingQuota | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repo
        self._policy = policy
        self._quota = quota
        self._sleep = sleep

    def stage(self, graph: GraphApi, post: Post, account: Account, *, owner: str, status: PostStatus) -> str:
        """Returns the container id to publish. ``status`` is the post's current status (ready or publishing).
        Staging ahead (``ready``) also records when the container read FINISHED and reads the account's
        publishing quota, so that at the scheduled instant only ``media_publish`` is left to do."""
        if post.container_id:
            if self._recently_ready(post):
                return post.container_id
            self.wait_finished(
                graph, post.container_id, reel=post.post_type == PostType.REEL.value, account=account.name
            )
            self._mark_ready(graph, post, account, owner=owner, status=status)
            return post.container_id
        media = self._repo.media(post.id)
        kind = PostType(post.post_type)
        if kind is PostType.PHOTO:
            container = graph.create_image_container(
                account.ig_user_id,
                image_url=_url(media[0]),
                caption=post.caption or None,
                alt_text=post.alt_text or media[0].alt_text,
            )
        elif kind is PostType.REEL:
            container = graph.create_reel_container(
                account.ig_user_id,
                video_url=post.video_url or _url(media[0]),
                caption=post.caption or None,
                cover_url=post.cover_url,
                share_to_feed=True,
            )
        else:
            children = []
            for item in media:
                child = item.container_id
                if child is None:
                    child = graph.create_image_container(
                        account.ig_user_id,
                        image_url=_url(item),
                        alt_text=item.alt_text,
                        is_carousel_item=True,
                    )
                    self._repo.set_media_container(item.id, child)
                children.append(child)
            for child, item in zip(children, media, strict=True):
                self.wait_finished(graph, child, reel=False, account=account.name, media_url=item.stored_url)
            container = graph.create_carousel_container(
                account.ig_user_id, children=children, caption=post.caption or None
            )
        if not self._repo.update_owned(
            post.id,
            owner=owner,
            status=status,
            values={"container_id": container},
            kind="container_created",
            detail={"container_id": container},
        ):
            raise errors.Conflict("the post was taken over or cancelled while staging")
        single_url = None if kind is PostType.CAROUSEL else (post.video_url or media[0].stored_url)
        self.wait_finished(graph, container, reel=kind is PostType.REEL, account=account.name, media_url=single_url)
        self._mark_ready(graph, post, account, owner=owner, status=status)
        return container

    def _recently_ready(self, post: Post) -> bool:
        if post.container_ready_at is None:
            return False
        return (utcnow() - post.container_ready_at).total_seconds() < self._policy.ready_trust_s

    def _mark_ready(self, graph: GraphApi, post: Post, account: Account, *, owner: str, status: PostStatus) -> None:
        if status is not PostStatus.READY:
            return  # publishing right now: the next step is media_publish itself, no need to remember
        self._repo.update_owned(post.id, owner=owner, status=status, values={"container_ready_at": db_now()})
        if self._quota is not None:
            self._quota.refresh_if_stale(graph, account)

    def wait_finished(
        self,
        graph: GraphApi,
        container_id: str,
        *,
        reel: bool,
        account: str | None = None,
        media_url: str | None = None,
    ) -> None:
        """Read the container at Meta's pace until it is FINISHED. A container in ERROR raises what its subcode
        means (``classify_container_error``): bad media fails the post, the rest gets a new container."""
        deadline = time.monotonic() + (self._policy.reel_wait_s if reel else self._policy.image_wait_s)
        delays = read_delays(poll_s=self._policy.poll_s, reel=reel)
        not_visible = 0
        self._sleep(next(delays))
        while True:
            try:
                state = graph.container_status(container_id)
            except errors.Transient:
                not_visible += 1
                if not_visible > NOT_VISIBLE_RETRIES:
                    raise
                self._sleep(min(1.0, self._policy.poll_s))
                continue
            code = state.status_code
            if code == "FINISHED":
                return
            if code == "PUBLISHED":
                raise errors.OutcomeUnknown("the container already reads PUBLISHED")
            if code == "ERROR":
                raise classify_container_error(state.status, account=account, media_url=media_url)
            if code == "EXPIRED":
                raise errors.NeedsNewContainer(
                    "The Instagram media container expired (they live 24 hours); a new one is made."
                )
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise errors.Transient("Instagram is still processing the media; it will be checked again")
            self._sleep(delay)


class PublishFlow:
    def __init__(
        self,
        *,
        repo: Repository,
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
            values={"publish_attempted_at": utcnow(), "container_ready_at": None},
            kind="publish_attempt",
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
            self._repo.update_owned(
                post.id, owner=owner, status=PostStatus.PUBLISHING, values={"publish_attempted_at": None}
            )
            raise
        self._quota.published(account)
        # Persist the media id at once, with the moment the post went live; the permalink is a nicety that
        # never fails a live post.
        if not self._repo.update_owned(
            post.id,
            owner=owner,
            status=PostStatus.PUBLISHING,
            values={"ig_media_id": media_id, "published_at": db_now()},
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


class Unconfirmed(errors.PostpilotError):
    """postpilot cannot tell whether Instagram published this post."""


class Settling(errors.PostpilotError):
    """A publish request may still be in flight at Meta; look again shortly."""

    def __init__(self, wait_s: float) -> None:
        super().__init__("waiting to confirm an earlier publish attempt")
        self.wait_s = wait_s


def _url(item: PostMedia) -> str:
    if not item.stored_url:
        raise errors.Permanent(f"media item {item.position + 1} has no stored URL; prepare the post again")
    return item.stored_url


def _floor(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _message(exc: Exception | None) -> str:
    if isinstance(exc, errors.PostpilotError):
        return exc.message
    return "no answer"
