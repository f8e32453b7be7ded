"""The comments edge of an IG Media (Meta's "IG Media Comments" reference): ``POST /{ig-media-id}/comments``
with ``message`` creates a comment and answers its id; ``GET`` lists them. Creating needs
``instagram_manage_comments`` (Facebook Login) or ``instagram_business_manage_comments`` (Instagram Login);
stories take no comments; the text is at most 2,200 characters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.graph.parsing import Req, _select, _split_fields
from tests.fakes.graph.records import GraphError, Resp, _bad_param, _meta_time, _not_found

if TYPE_CHECKING:
    from tests.fakes.graph.state import GraphState

MAX_COMMENT_CHARS = 2200


class CommentRoutes:
    s: GraphState

    def create_comment(self, req: Req) -> Resp:
        s = self.s
        media_id = req.segments[0]
        with s.lock:
            tok = self._token(req)  # type: ignore[attr-defined]
            self._need(tok, "comment")  # type: ignore[attr-defined]
            media = s.media_by_id.get(media_id)
            if media is None or media.ig_user_id not in tok.ig_user_ids:
                raise _not_found(media_id, "post")
            if media.media_product_type == "STORY":
                raise GraphError(100, None, "(#100) Comments are not supported on stories")
            message = req.param("message")
            if not message:
                raise GraphError(100, None, "(#100) The parameter message is required")
            if len(message) > MAX_COMMENT_CHARS:
                raise _bad_param(f"The comment can be at most {MAX_COMMENT_CHARS} characters long.")
            comment = {
                "id": s.new_id("178"),
                "text": message,
                "username": s.accounts[media.ig_user_id].username,
                "timestamp": _meta_time(s.now()),
            }
            media.comments.append(comment)
            s.comments_created += 1
            return Resp(200, {"id": comment["id"]})

    def list_comments(self, req: Req) -> Resp:
        s = self.s
        media_id = req.segments[0]
        with s.lock:
            tok = self._token(req)  # type: ignore[attr-defined]
            self._need(tok, "basic")  # type: ignore[attr-defined]
            media = s.media_by_id.get(media_id)
            if media is None or media.ig_user_id not in tok.ig_user_ids:
                raise _not_found(media_id, "get")
            fields = _split_fields(req.param("fields"))
            data: list[dict[str, Any]] = [
                _select(dict(c), fields, "IGComment", ("id", "text", "timestamp")) for c in reversed(media.comments)
            ]
            return Resp(200, {"data": data})
