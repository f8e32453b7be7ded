"""Every validation rule (``domain.validation``) with the message a marketer reads, one row each."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from postpilot.domain.errors import InvalidInput
from postpilot.domain.model import Account, LoginKind
from postpilot.domain.validation import PostDraft, carousel_size_for_prompt, check, problems

WHEN = datetime(2026, 12, 24, 9, 0, tzinfo=UTC)
ACCOUNT = Account(
    id=1,
    name="shop",
    ig_user_id="1",
    login_kind=LoginKind.FACEBOOK,
    dry_run=True,
    is_active=True,
    has_token=False,
    token_expires_at=None,
    needs_reconnect=False,
    last_error=None,
)


def draft(**fields: Any) -> PostDraft:
    values: dict[str, Any] = {"post_type": "photo", "prompt": "a lighthouse", "scheduled_at": WHEN}
    values.update(fields)
    return PostDraft(**values)


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"post_type": "tiktok"}, "post_type must be photo, carousel, reel or story (got 'tiktok')"),
        ({"aspect": "wide"}, "aspect must be square, portrait or landscape (got 'wide')"),
        ({"caption": 5}, "caption must be text"),
        ({"caption": "menu\x00"}, "caption contains a NUL character (\\x00), which Instagram does not accept"),
        ({"caption": "x" * 2201}, "caption is 2201 characters long; Instagram allows at most 2200"),
        ({"caption": " ".join(f"#t{i}" for i in range(31))}, "caption has 31 hashtags; Instagram allows at most 30"),
        ({"caption": " ".join(f"@u{i}" for i in range(21))}, "caption has 21 @mentions; Instagram allows at most 20"),
        ({"prompt": 7, "image_url": "https://a.example/x.jpg"}, "prompt must be text"),
        ({"prompt": "p" * 4001}, "prompt is 4001 characters long; at most 4000 are accepted"),
        ({"alt_text": "a" * 1001}, "alt_text must be text of at most 1000 characters"),
        ({"image_count": "three"}, "image_count must be a whole number"),
        ({"image_count": 11}, "image_count must be between 2 and 10 (got 11)"),
        ({"image_url": "ftp://a.example/x.jpg"}, "image_url must start with http:// or https:// (got ftp://)"),
        ({"image_url": "https://"}, "image_url 'https://' has no host name"),
        ({"image_url": ""}, "image_url must be a URL"),
        ({"prompt": None}, "a photo needs an image_url or a prompt to generate the image from"),
        ({"prompt": "   "}, "a photo needs an image_url or a prompt to generate the image from"),
        ({"media_urls": ["https://a.example/1.jpg"]}, "media_urls is for carousels; a photo takes image_url"),
        ({"post_type": "carousel", "prompt": None}, "a carousel needs media_urls (2 to 10 image URLs) or a prompt"),
        (
            {"post_type": "carousel", "media_urls": ["https://a.example/1.jpg"]},
            "a carousel needs 2 to 10 images; media_urls has 1",
        ),
        ({"post_type": "carousel", "media_urls": "https://a.example/1.jpg"}, "media_urls must be a JSON array"),
        (
            {"post_type": "carousel", "media_urls": ["https://a.example/1.jpg", "nope"]},
            "media_urls item 2 must start with http:// or https://",
        ),
        (
            {"post_type": "carousel", "image_url": "https://a.example/1.jpg"},
            "image_url is for photos; a carousel takes media_urls",
        ),
        ({"post_type": "reel", "prompt": None}, "a reel needs a video_url (an MP4 or MOV"),
        (
            {"post_type": "reel", "video_url": "https://a.example/v.mp4", "image_url": "https://a.example/x.jpg"},
            "a reel takes video_url (and optionally cover_url), not image_url or media_urls",
        ),
        ({"post_type": "reel", "video_url": "https://a.example/v.mp4", "cover_url": "nope"}, "cover_url must start"),
        ({"scheduled_at": None}, "scheduled_at is missing"),
        ({"scheduled_at": datetime(2026, 12, 24, 9, 0)}, "scheduled_at has no UTC offset"),
    ],
)
def test_each_rule_says_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    assert message in only(problems(draft(**fields), ACCOUNT))


def test_a_good_post_of_each_type_passes() -> None:
    assert problems(draft(), ACCOUNT) == []
    assert problems(draft(post_type="carousel", image_count=4), ACCOUNT) == []
    media = ["https://a.example/1.jpg", "https://a.example/2.jpg"]
    assert problems(draft(post_type="carousel", prompt=None, media_urls=media), ACCOUNT) == []
    reel = draft(post_type="reel", prompt=None, video_url="https://a.example/v.mp4")
    assert problems(reel, ACCOUNT) == []


def test_account_rules() -> None:
    assert only(problems(draft(), None)) == "the account does not exist (see postpilot account list)"
    paused = dataclasses.replace(ACCOUNT, id=2, name="old", is_active=False)
    assert only(problems(draft(), paused)) == "account 'old' is paused (inactive)"
    assert problems(draft(), None, account_required=False) == []


def test_a_mention_is_not_an_email_address() -> None:
    caption = " ".join(f"user{i}@example.com" for i in range(25))
    assert problems(draft(caption=caption), ACCOUNT) == []


def test_check_raises_every_problem_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        check(draft(aspect="wide", scheduled_at=None), ACCOUNT)
    assert "aspect must be" in caught.value.message and "scheduled_at is missing" in caught.value.message


@pytest.mark.parametrize(("words", "size"), [(3, 3), (11, 3), (12, 4), (29, 4), (30, 5), (80, 5)])
def test_carousel_size_grows_with_the_prompt(words: int, size: int) -> None:
    assert carousel_size_for_prompt(" ".join(["word"] * words)) == size


def test_the_draft_has_exactly_the_columns_a_marketer_writes() -> None:
    from postpilot.domain.model import DRAFT_FIELDS

    assert {f.name for f in dataclasses.fields(PostDraft)} == set(DRAFT_FIELDS)
