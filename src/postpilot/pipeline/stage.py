"""The stage step's flow: create a post's Graph API containers (persisting each id at once) and wait, at
Meta's pace, until they read FINISHED. Used ahead of time (``ready``) and inline at the scheduled instant
when nothing was staged yet (``publishing``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from postpilot.domain import errors
from postpilot.domain.changes import ContainerCreated, ContainerReady
from postpilot.domain.events import EventKind
from postpilot.domain.model import Account, Post, PostMedia, PostStatus, PostType, utcnow
from postpilot.domain.publish_options import UserTag, parse_collaborators, parse_user_tags
from postpilot.instagram.container_errors import classify_container_error
from postpilot.instagram.graph_api import ContainerExtras, GraphApi
from postpilot.instagram.quota import PublishingQuota
from postpilot.pipeline.ports import PostStore

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


class StagingFlow:
    """Creates the containers of a post (persisting each id at once) and waits until they are FINISHED."""

    def __init__(
        self,
        *,
        repo: PostStore,
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
        if not media and not (kind is PostType.REEL and post.video_url):
            # A status set to ready or publishing by hand skips preparation: say so instead of crashing.
            raise errors.Permanent(
                "the post has no prepared media, so it cannot be published (was its status set to ready or "
                f"publishing by hand?); run: postpilot post retry {post.id} to prepare it"
            )
        tags = parse_user_tags(post.user_tags)
        if kind is PostType.PHOTO:
            container = graph.create_image_container(
                account.ig_user_id,
                image_url=_url(media[0]),
                caption=post.caption or None,
                alt_text=post.alt_text or media[0].alt_text,
                extras=_parent_extras(post, tags),
            )
        elif kind is PostType.REEL:
            container = graph.create_reel_container(
                account.ig_user_id,
                video_url=post.video_url or _url(media[0]),
                caption=post.caption or None,
                cover_url=post.cover_url,
                share_to_feed=post.share_to_feed if post.share_to_feed is not None else True,
                extras=_reel_extras(post, tags),
            )
        elif kind is PostType.STORY:
            # No caption: Meta's stories take none (validation refused one already).
            video = post.video_url or (media[0].stored_url if media and media[0].kind == "video" else None)
            container = graph.create_story_container(
                account.ig_user_id,
                image_url=None if video else _url(media[0]),
                video_url=video,
                extras=ContainerExtras(user_tags=tags),
            )
        else:
            children = []
            for item in media:
                child = item.container_id
                if child is None:
                    child = self._create_slide(graph, account, item, tags)
                    self._repo.set_media_container(item.id, child)
                children.append(child)
            # Every slide must read FINISHED before the parent is made (videos take longest).
            for child, item in zip(children, media, strict=True):
                self.wait_finished(
                    graph, child, reel=item.kind == "video", account=account.name, media_url=item.stored_url
                )
            container = graph.create_carousel_container(
                account.ig_user_id,
                children=children,
                caption=post.caption or None,
                extras=_parent_extras(post, ()),  # collaborators and location on the parent, never a slide
            )
        if not self._repo.update_owned(
            post.id,
            owner=owner,
            status=status,
            change=ContainerCreated(container),
            kind=EventKind.CONTAINER_CREATED,
            detail={"container_id": container},
        ):
            raise errors.Conflict("the post was taken over or cancelled while staging")
        single_url = None if kind is PostType.CAROUSEL else (post.video_url or media[0].stored_url)
        slow = kind is PostType.REEL or (kind is PostType.STORY and bool(post.video_url))
        self.wait_finished(graph, container, reel=slow, account=account.name, media_url=single_url)
        self._mark_ready(graph, post, account, owner=owner, status=status)
        return container

    @staticmethod
    def _create_slide(graph: GraphApi, account: Account, item: PostMedia, tags: list[UserTag]) -> str:
        if item.kind == "video":
            return graph.create_video_item_container(account.ig_user_id, video_url=_url(item))
        slide_tags = [t for t in tags if t.item == item.position + 1]
        return graph.create_image_container(
            account.ig_user_id,
            image_url=_url(item),
            alt_text=item.alt_text,
            is_carousel_item=True,
            extras=ContainerExtras(user_tags=slide_tags) if slide_tags else None,
        )

    def _recently_ready(self, post: Post) -> bool:
        if post.container_ready_at is None:
            return False
        return (utcnow() - post.container_ready_at).total_seconds() < self._policy.ready_trust_s

    def _mark_ready(self, graph: GraphApi, post: Post, account: Account, *, owner: str, status: PostStatus) -> None:
        if status is not PostStatus.READY:
            return  # publishing right now: the next step is media_publish itself, no need to remember
        self._repo.update_owned(post.id, owner=owner, status=status, change=ContainerReady())
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


def _parent_extras(post: Post, tags: Sequence[UserTag]) -> ContainerExtras:
    return ContainerExtras(
        user_tags=tags,
        collaborators=parse_collaborators(post.collaborators),
        location_id=str(post.location_id) if post.location_id else None,
    )


def _reel_extras(post: Post, tags: Sequence[UserTag]) -> ContainerExtras:
    trial = post.trial_params if isinstance(post.trial_params, dict) else None
    return ContainerExtras(
        user_tags=tags,
        collaborators=parse_collaborators(post.collaborators),
        location_id=str(post.location_id) if post.location_id else None,
        thumb_offset=post.thumb_offset if isinstance(post.thumb_offset, int) else None,
        audio_name=post.audio_name or None,
        trial_params={str(k): str(v) for k, v in trial.items()} if trial else None,
    )


def _url(item: PostMedia) -> str:
    if not item.stored_url:
        raise errors.Permanent(f"media item {item.position + 1} has no stored URL; prepare the post again")
    return item.stored_url
