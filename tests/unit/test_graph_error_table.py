"""The Graph API error table, row by row, and the throttling headers.

``CASES`` is written by hand from the reference (not derived from ``ERROR_TABLE``);
``test_every_row_has_a_case`` fails when a row is added to the table without a case here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

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
)
from postpilot.instagram.container_errors import classify_container_error, container_error_subcode
from postpilot.instagram.error_table import (
    ERROR_TABLE,
    Stage,
    classify_graph_error,
    find_rule,
    public_url,
    redact,
)
from postpilot.instagram.throttle import DEFAULT_THROTTLE_S, throttle_wait_s


@dataclass(frozen=True)
class Case:
    code: int | None
    subcode: int | None
    during: Stage
    expected: type[PostpilotError]
    says: str  # a fragment the message must contain
    http_status: int = 400
    retry_after_s: float | None = None


CASES = [
    # Meta's own trouble: transient, except while publishing, where it may have applied.
    Case(1, None, "create", Transient, "temporary server problem"),
    Case(2, None, "status", Transient, "temporary server problem"),
    Case(-1, 2207001, "create", Transient, "temporary server problem"),
    Case(1, None, "publish", OutcomeUnknown, "may be live"),
    Case(-1, 2207001, "publish", OutcomeUnknown, "may be live"),
    Case(-1, 2207032, "create", Transient, "failed to create the media container"),
    Case(-1, 2207053, "create", Transient, "unknown upload error"),
    Case(-1, 2207053, "publish", OutcomeUnknown, "may be live"),
    Case(1, None, "oauth", Permanent, "app's credentials"),
    Case(101, None, "oauth", Permanent, "app's credentials"),
    # Rate limits: throttled, wait from the headers (none here: the default).
    Case(4, None, "create", Throttled, "rate limit", retry_after_s=DEFAULT_THROTTLE_S),
    Case(17, None, "publish", Throttled, "rate limit", retry_after_s=DEFAULT_THROTTLE_S),
    Case(32, None, "read", Throttled, "rate limit", retry_after_s=DEFAULT_THROTTLE_S),
    Case(613, 1996, "status", Throttled, "rate limit", retry_after_s=DEFAULT_THROTTLE_S),
    Case(341, None, "create", Throttled, "rate limit", retry_after_s=DEFAULT_THROTTLE_S),
    Case(80002, None, "create", Throttled, "rate limit", retry_after_s=DEFAULT_THROTTLE_S),
    Case(4, 2207051, "publish", OutcomeUnknown, "may be live anyway"),
    Case(4, 2207051, "create", Throttled, "possible spam", retry_after_s=3600),
    Case(9, 2207042, "publish", QuotaExhausted, "daily publishing limit"),
    # The container's life.
    Case(9007, 2207027, "publish", Transient, "still processing", retry_after_s=5),
    Case(24, 2207008, "publish", Transient, "can be temporary", retry_after_s=30),
    Case(-2, 2207020, "publish", NeedsNewContainer, "expired"),
    Case(24, 2207006, "publish", NeedsNewContainer, "cannot find the media container"),
    Case(-2, 2207003, "status", NeedsNewContainer, "timed out downloading"),
    Case(100, 33, "status", Transient, "not show the new object yet", retry_after_s=2),
    Case(100, 33, "read", Transient, "not show the new object yet", retry_after_s=2),
    Case(100, 33, "create", NeedsReconnect, "does not know this account"),
    # The token.
    Case(190, 463, "publish", NeedsReconnect, "has expired. Run: postpilot account connect shop"),
    Case(190, 460, "create", NeedsReconnect, "password was changed"),
    Case(190, 458, "create", NeedsReconnect, "app was removed"),
    Case(190, 492, "create", NeedsReconnect, "not an admin"),
    Case(190, 467, "create", NeedsReconnect, "logged out or revoked"),
    Case(190, None, "create", NeedsReconnect, "Run: postpilot account connect shop"),
    Case(102, None, "read", NeedsReconnect, "is invalid"),
    Case(10, None, "publish", NeedsReconnect, "lacks a permission"),
    Case(200, None, "create", NeedsReconnect, "lacks a permission"),
    Case(299, None, "create", NeedsReconnect, "lacks a permission"),
    Case(25, 2207050, "publish", Permanent, "the owner must act in the Instagram app"),
    # The media and the caption.
    # Comes at container creation (nothing is live) and is often temporary: tried again after a minute.
    Case(
        9004,
        2207052,
        "create",
        MediaFetchFailed,
        "could not download the media from https://cdn.example/a.jpg;",
        retry_after_s=60.0,
    ),
    Case(36000, 2207004, "create", BadMedia, "8 MiB"),
    Case(36001, 2207005, "create", BadMedia, "JPEG"),
    Case(36003, 2207009, "create", BadMedia, "aspect ratio is outside 4:5 to 1.91:1"),
    Case(36004, 2207010, "create", Permanent, "longer than 2,200 characters"),
    Case(100, 2207028, "create", Permanent, "carousel needs 2 to 10 items"),
    Case(100, 2207023, "create", BadMedia, "media type"),
    Case(352, 2207026, "status", BadMedia, "MP4 or MOV"),
    Case(1, 2207057, "create", Permanent, "cover frame offset"),
]


def _classify(case: Case, headers: dict[str, str] | None = None) -> PostpilotError:
    return classify_graph_error(
        http_status=case.http_status,
        code=case.code,
        subcode=case.subcode,
        is_transient=None,
        message="Meta says no",
        user_msg=None,
        headers=headers or {},
        during=case.during,
        account="shop",
        media_url="https://cdn.example/a.jpg?signature=s3cr3t",
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}/{c.subcode}@{c.during}")
def test_each_row_classifies(case: Case) -> None:
    error = _classify(case)
    assert type(error) is case.expected
    assert case.says in error.message
    assert "s3cr3t" not in error.message
    if case.code is not None:
        assert f"Instagram error {case.code}" in error.message
    if case.retry_after_s is not None:
        assert isinstance(error, Transient | QuotaExhausted | MediaFetchFailed)
        assert error.retry_after_s == case.retry_after_s


def test_every_row_has_a_case() -> None:
    used = {find_rule(c.code, c.subcode, c.during) for c in CASES}
    missing = [rule for rule in ERROR_TABLE if rule not in used]
    assert missing == []


def test_unknown_code_is_permanent_with_metas_words() -> None:
    error = classify_graph_error(
        http_status=400,
        code=12345,
        subcode=None,
        is_transient=False,
        message="Internal words",
        user_msg="The post could not be shared.",
        headers={},
        during="create",
    )
    assert type(error) is Permanent
    assert "The post could not be shared." in error.message
    plain = classify_graph_error(
        http_status=400,
        code=12345,
        subcode=None,
        is_transient=None,
        message="Internal words",
        user_msg=None,
        headers={},
        during="create",
    )
    assert "Internal words" in plain.message


@pytest.mark.parametrize(
    ("during", "expected"), [("create", Transient), ("read", Transient), ("publish", OutcomeUnknown)]
)
def test_is_transient_flag_on_an_unknown_code(during: Stage, expected: type[PostpilotError]) -> None:
    error = classify_graph_error(
        http_status=400,
        code=777,
        subcode=None,
        is_transient=True,
        message="try later",
        user_msg=None,
        headers={},
        during=during,
    )
    assert type(error) is expected


@pytest.mark.parametrize(
    ("status", "during", "expected"),
    [
        (502, "publish", OutcomeUnknown),
        (500, "publish", OutcomeUnknown),
        (503, "create", Transient),
        (502, "status", Transient),
        (504, "read", Transient),
        (429, "create", Throttled),
        (401, "read", NeedsReconnect),
        (408, "read", Transient),
        (404, "read", Permanent),
    ],
)
def test_bodies_without_an_envelope(status: int, during: Stage, expected: type[PostpilotError]) -> None:
    """An HTML 502 from a proxy has no code: the HTTP status decides."""
    error = classify_graph_error(
        http_status=status,
        code=None,
        subcode=None,
        is_transient=None,
        message="",
        user_msg=None,
        headers={},
        during=during,
    )
    assert type(error) is expected
    assert f"HTTP {status}" in error.message or isinstance(error, NeedsReconnect | Throttled)


def test_5xx_during_publish_wins_over_the_code() -> None:
    error = classify_graph_error(
        http_status=500,
        code=9007,
        subcode=2207027,
        is_transient=None,
        message="x",
        user_msg=None,
        headers={},
        during="publish",
    )
    assert isinstance(error, OutcomeUnknown)


def test_reconnect_without_an_account_name_still_says_what_to_do() -> None:
    error = classify_graph_error(
        http_status=400,
        code=190,
        subcode=463,
        is_transient=None,
        message="Error validating access token: Session has expired",
        user_msg=None,
        headers={},
        during="publish",
    )
    assert "postpilot account connect <account name>" in error.message


def test_metas_words_are_redacted() -> None:
    token = "EAAB" + "x" * 40
    error = classify_graph_error(
        http_status=400,
        code=100,
        subcode=None,
        is_transient=None,
        message=f"Bad request to https://graph.facebook.com/v25.0/me?access_token={token}, token {token}",
        user_msg=None,
        headers={},
        during="read",
    )
    assert token not in error.message
    assert "access_token" not in error.message
    assert "https://graph.facebook.com/v25.0/me" in error.message


# --- headers -----------------------------------------------------------------------------------------------


def _buc(*minutes: int) -> str:
    entries = [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": m} for m in minutes]
    return json.dumps({"1784140000": entries[:1], "1784140001": entries[1:]})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, DEFAULT_THROTTLE_S),
        ({"X-Business-Use-Case-Usage": _buc(5)}, 300.0),
        ({"x-business-use-case-usage": _buc(3, 12)}, 720.0),  # max over entries, any header case
        ({"X-Business-Use-Case-Usage": _buc(0)}, DEFAULT_THROTTLE_S),  # 0: that entry is not blocked
        ({"X-Business-Use-Case-Usage": "not json"}, DEFAULT_THROTTLE_S),
        ({"X-Business-Use-Case-Usage": "[1, 2]"}, DEFAULT_THROTTLE_S),
        ({"Retry-After": "42"}, 42.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, DEFAULT_THROTTLE_S),
        ({"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 20, "total_time": 30})}, 600.0),
        (
            {"X-App-Usage": json.dumps({"call_count": 40, "total_cputime": 20, "total_time": 30})},
            DEFAULT_THROTTLE_S,
        ),
        ({"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 100})}, 600.0),
        ({"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 90, "reset_time_duration": 120})}, 120.0),
        ({"X-Business-Use-Case-Usage": _buc(2), "Retry-After": "600"}, 600.0),
        ({"X-Business-Use-Case-Usage": _buc(100_000)}, 86_400.0),  # capped at a day
    ],
)
def test_throttle_wait_from_headers(headers: dict[str, str], expected: float) -> None:
    assert throttle_wait_s(headers) == expected


def test_throttled_error_carries_the_header_wait_and_says_it() -> None:
    error = classify_graph_error(
        http_status=400,
        code=80002,
        subcode=None,
        is_transient=True,
        message="There have been too many calls for this Instagram account.",
        user_msg=None,
        headers={"X-Business-Use-Case-Usage": _buc(7)},
        during="create",
    )
    assert isinstance(error, Throttled)
    assert error.retry_after_s == 420.0
    assert "about 7 minutes" in error.message


# --- redaction ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET https://graph.facebook.com/v25.0/oauth/access_token?client_secret=abc123&code=zz", "abc123"),
        ("client_secret=abc123 was wrong", "abc123"),
        ("input_token=EAAGm0PX4ZCpsBA", "EAAGm0PX4ZCpsBA"),
        ("Authorization: Bearer IGQVJ-tok.en|x", "IGQVJ-tok.en|x"),
        ("app token 123456789|abcdefABCDEF0123456789", "abcdefABCDEF0123456789"),
        ("a token IGAAlongtokenlongtokenlongtoken in text", "IGAAlongtokenlongtokenlongtoken"),
    ],
)
def test_redact(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_redact_given_secrets_and_public_url() -> None:
    assert redact("the token plain-secret-value leaked", ["plain-secret-value"]) == "the token <redacted> leaked"
    assert public_url("https://res.cloudinary.com/x/a.jpg?sig=1#frag") == "https://res.cloudinary.com/x/a.jpg"


# --- a container that reads ERROR: its status names a subcode, looked up in the same table ------------------


@pytest.mark.parametrize(
    ("status", "expected", "says"),
    [
        ("Error: Media upload has failed with error code 2207026", BadMedia, "MP4 or MOV"),
        ("Error: Media upload has failed with error code 2207004", BadMedia, "8 MiB"),
        ("Error: Media upload has failed with error code 2207005", BadMedia, "use a JPEG"),
        ("Error: Media upload has failed with error code 2207009", BadMedia, "aspect ratio"),
        ("Error: Media upload has failed with error code 2207010", Permanent, "2,200 characters"),
        ("Error: Media upload has failed with error code 2207052", MediaFetchFailed, "make sure the URL is public"),
        ("Error: Media upload has failed with error code 2207003", NeedsNewContainer, "timed out downloading"),
        ("Error: Media upload has failed with error code 2207020", NeedsNewContainer, "expired"),
        ("Error: Media upload has failed with error code 2207001", NeedsNewContainer, "a new container is made"),
        ("Error: Media upload has failed with error code 2207099", NeedsNewContainer, "a new container is made"),
        ("Error", NeedsNewContainer, "a new container is made"),
        (None, NeedsNewContainer, "no reason given"),
    ],
)
def test_a_container_error_is_classified_by_its_subcode(
    status: str | None, expected: type[PostpilotError], says: str
) -> None:
    error = classify_container_error(status, account="shop", media_url="https://cdn.example/v.mp4?sig=1")

    assert type(error) is expected
    assert says in error.message
    assert "sig=1" not in error.message
    subcode = container_error_subcode(status)
    if subcode is not None:
        assert f"(Instagram container error {subcode})" in error.message
