"""What the review page's tests share: users with known passwords, logging in through the form, and reading the
CSRF token and the flashed messages out of a page (the tests read the HTML a browser would get)."""

from __future__ import annotations

import html
import re
from typing import Any

from postpilot.domain.users import Role
from postpilot.review.passwords import hash_password

REVIEWER, REVIEWER_PASSWORD = "alice", "alice-long-password-1"
VIEWER, VIEWER_PASSWORD = "victor", "victor-long-password-2"

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_FLASH = re.compile(r'<li class="flash (\w+)"[^>]*>(.*?)</li>', re.S)
_REFUSAL = re.compile(r'<p id="refusal">(.*?)</p>', re.S)
_LOGIN_ERROR = re.compile(r'<p class="flash error" id="login-error"[^>]*>(.*?)</p>', re.S)


def add_users(repo: Any) -> None:
    repo.add_review_user(name=REVIEWER, password_hash=hash_password(REVIEWER_PASSWORD), role=Role.REVIEWER)
    repo.add_review_user(name=VIEWER, password_hash=hash_password(VIEWER_PASSWORD), role=Role.VIEWER)


def csrf_token(page: str) -> str:
    found = _TOKEN.search(page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def flashes(page: str) -> list[tuple[str, str]]:
    return [(kind, html.unescape(text.strip())) for kind, text in _FLASH.findall(page)]


def refusal(page: str) -> str:
    found = _REFUSAL.search(page)
    return html.unescape(found.group(1).strip()) if found else ""


def login_error(page: str) -> str:
    found = _LOGIN_ERROR.search(page)
    return html.unescape(found.group(1).strip()) if found else ""
