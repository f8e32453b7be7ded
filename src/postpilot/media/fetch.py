"""Download a marketer-supplied image safely: bounded size, bounded redirects, real image format checked.

Everything that goes wrong becomes a ``BadMedia`` (the URL or the file must be fixed) or a ``Transient``
(the server is down or slow; retrying may help), with the URL shown without credentials or query string,
which often carries a signature.
"""

from __future__ import annotations

import time

import httpx

from postpilot.domain.errors import BadMedia, Transient
from postpilot.media.public_net import NotPublicAddress
from postpilot.media.transform import identify
from postpilot.redaction import display_url

__all__ = ["display_url", "fetch_image", "not_public_message"]

MAX_REDIRECTS = 5
SLOW_DOWNLOAD_RETRY_S = 300.0
# Servers that do not know better label images like this; the format sniff decides for them.
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")
_PAGE_TYPES = ("text/html", "application/xhtml+xml")


def fetch_image(client: httpx.Client, url: str, *, max_bytes: int, deadline_s: float | None = None) -> bytes:
    """GET an image with the client's timeouts: JPEG/PNG/WebP/GIF/BMP/TIFF bytes, at most ``max_bytes``.

    ``deadline_s`` bounds the whole download, redirects included. The client's timeouts bound each wait for a
    byte only, so a server that drips one byte every few seconds would otherwise hold a prepare thread (and
    the posts queued behind it) for as long as it likes.

    Only the header is parsed here; decoding is the transform's job.
    """
    shown = display_url(url)
    target = _check_scheme(url, shown)
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    for _ in range(MAX_REDIRECTS + 1):
        # identity: a compressed body could inflate far past the size we checked.
        request = client.build_request("GET", target, headers={"Accept": "image/*", "Accept-Encoding": "identity"})
        if deadline is not None:
            # No single wait may outlast what is left of the deadline either.
            left = max(0.1, deadline - time.monotonic())
            timeout = httpx.Timeout(client.timeout)
            request.extensions["timeout"] = httpx.Timeout(
                connect=_min(timeout.connect, left),
                read=_min(timeout.read, left),
                write=_min(timeout.write, left),
                pool=_min(timeout.pool, left),
            ).as_dict()
        try:
            response = client.send(request, stream=True, follow_redirects=False)
        except NotPublicAddress:
            # Nothing was contacted: the same words whatever listens there (no port scanning through us).
            raise BadMedia(not_public_message(shown)) from None
        except httpx.TimeoutException as exc:
            if _past(deadline):
                raise _too_slow(shown, deadline_s) from exc
            raise Transient(f"the image at {shown} did not answer in time") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise BadMedia(f"the image URL is not valid: {shown}") from exc
        except httpx.RequestError as exc:
            raise Transient(f"could not connect to download the image at {shown}") from exc
        try:
            if response.next_request is not None:
                target = response.next_request.url
                if target.scheme not in ("http", "https"):
                    raise BadMedia(
                        f"the image URL {shown} redirects to {display_url(str(target))}, "
                        "which is not an http:// or https:// address"
                    )
                if target.userinfo:
                    raise BadMedia(f"the image URL {shown} redirects to an address with a user name or password")
                continue
            _check_response(response, shown, max_bytes)
            data = _read_capped(response, shown, max_bytes, deadline=deadline, deadline_s=deadline_s)
        finally:
            response.close()
        identify(data, what=f"the file at {shown}")
        return data
    raise BadMedia(f"the image URL redirects more than {MAX_REDIRECTS} times: {shown}")


def _check_scheme(url: str, shown: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BadMedia(f"the image URL is not valid: {shown}") from exc
    if not parsed.scheme or not parsed.host:
        raise BadMedia(f"the image URL is not a full web address (https://…): {shown}")
    if parsed.scheme not in ("http", "https"):
        raise BadMedia(f"only http:// and https:// image URLs are supported, got {shown}")
    if parsed.userinfo:
        # httpx would send them as Basic auth to whatever answers: a credential leak, never an image link.
        raise BadMedia(
            f"the image URL {shown} carries a user name or password; use a link that needs no login "
            "(for a private bucket, a signed URL)"
        )
    return parsed


def not_public_message(shown: str) -> str:
    return (
        f"the image URL {shown} does not point to a public internet address; postpilot downloads images "
        "only from public servers (set POSTPILOT_FETCH_ALLOW_NETWORKS to allow an internal image server)"
    )


def _check_response(response: httpx.Response, shown: str, max_bytes: int) -> None:
    status = response.status_code
    if status >= 500 or status in (408, 429):
        retry_after = _retry_after(response)
        raise Transient(
            f"the image URL answered {status} {response.reason_phrase}, will try again: {shown}",
            retry_after_s=retry_after,
        )
    if not 200 <= status < 300:
        raise BadMedia(f"the image URL answered {status} {response.reason_phrase}: {shown}")
    content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type in _PAGE_TYPES:
        raise BadMedia(
            f"the image URL {shown} returned a web page ({content_type}), not an image; "
            "use the direct link to the image file"
        )
    if not content_type.startswith("image/") and content_type not in _GENERIC_TYPES:
        raise BadMedia(f"the image URL {shown} returned {content_type}, not an image")
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise BadMedia(f"the image at {shown} is larger than {_megabytes(max_bytes)}")


def _read_capped(
    response: httpx.Response, shown: str, max_bytes: int, *, deadline: float | None, deadline_s: float | None
) -> bytes:
    """Read the body, giving up as soon as it passes ``max_bytes`` (Content-Length can lie or be absent) or the
    download's deadline."""
    chunks: list[bytes] = []
    received = 0
    try:
        # No chunk size: httpx would gather 64 KiB before yielding, and a drip would never reach the check.
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise BadMedia(f"the image at {shown} is larger than {_megabytes(max_bytes)}")
            chunks.append(chunk)
            if _past(deadline):
                raise _too_slow(shown, deadline_s)
    except httpx.TimeoutException as exc:
        if _past(deadline):
            raise _too_slow(shown, deadline_s) from exc
        raise Transient(f"the image at {shown} stopped arriving before it was complete") from exc
    except httpx.DecodingError as exc:
        raise BadMedia(f"the image at {shown} was sent in an encoding that cannot be read") from exc
    except httpx.RequestError as exc:
        raise Transient(f"the download of the image at {shown} was interrupted") from exc
    return b"".join(chunks)


def _min(value: float | None, cap: float) -> float:
    return cap if value is None else min(value, cap)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _too_slow(shown: str, deadline_s: float | None) -> Transient:
    # Deferred, not retried at once: the next try should not take a thread from posts due sooner.
    return Transient(
        f"the image at {shown} took longer than {deadline_s:.0f} s to download (the server sends it too slowly); "
        "will try again later",
        retry_after_s=SLOW_DOWNLOAD_RETRY_S,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _megabytes(limit: int) -> str:
    if limit < 1024 * 1024:
        return f"{limit:,} bytes" if limit < 10 * 1024 else f"{limit / 1024:.0f} KB"
    mb = limit / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 10 or mb.is_integer() else f"{mb:.1f} MB"
