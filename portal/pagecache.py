"""What every cached page shares: a build fingerprint, and a CSRF token that can be swapped per reader.

A page stored in the cache is the HTML one reader got. Two things in it belong to that reader alone and must
not reach the next one: the CSRF token of its forms, and a CSP nonce. The token is rendered once per request
(the `csrf` context processor below) so the stored copy can have it replaced by a placeholder, and the next
reader's own token put back; a page that used a nonce is never stored.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache as once

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.functional import SimpleLazyObject

# Stands for the CSRF token in a stored page (UTF-8 of a private-use character no template contains).
CSRF_PLACEHOLDER = "\ue010csrf\ue010".encode()
_TOKEN_ATTRIBUTE = "_page_csrf_token"  # noqa: S105 - an attribute name


def csrf(request: HttpRequest) -> dict[str, object]:
    """Context processor: one CSRF token for every form of a page (Django's own makes one per render).

    Listed in TEMPLATES it takes the place of django.template.context_processors.csrf, which Django always
    runs first; the token is made only if a template asks for it.
    """

    def token() -> str:
        if not hasattr(request, _TOKEN_ATTRIBUTE):
            setattr(request, _TOKEN_ATTRIBUTE, get_token(request))
        return getattr(request, _TOKEN_ATTRIBUTE)

    return {"csrf_token": SimpleLazyObject(token)}


@once
def build() -> str:
    """A fingerprint of the templates and message catalogues, so a deploy that changes them starts afresh."""
    digest = hashlib.sha256()
    for root in (settings.BASE_DIR / "templates", *settings.LOCALE_PATHS):
        for folder, _dirs, files in sorted(os.walk(root)):
            for name in sorted(files):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{stat.st_mtime_ns}:{stat.st_size};".encode())
    return digest.hexdigest()[:12]


def address(request: HttpRequest) -> str:
    """A short digest of what the page's links are built from: scheme, host, path and query string."""
    full = f"{request.scheme}://{request.get_host()}{request.get_full_path()}"
    return hashlib.sha256(full.encode()).hexdigest()[:24]


def storable(request: HttpRequest, response: HttpResponse) -> bytes | None:
    """The response's body ready for the cache (CSRF token swapped for the placeholder), or None.

    None for anything but a plain 200 that sets no cookie and used no CSP nonce.
    """
    if (
        response.status_code != 200
        or response.streaming
        or response.cookies
        or getattr(request, "_csp_nonce", None) is not None
    ):
        return None
    token = getattr(request, _TOKEN_ATTRIBUTE, None)
    return response.content.replace(token.encode(), CSRF_PLACEHOLDER) if token else response.content


def serve(request: HttpRequest, content: bytes, content_type: str | None = None) -> HttpResponse:
    """A stored page for this reader: their own CSRF token (and cookie) in place of the placeholder."""
    if CSRF_PLACEHOLDER in content:
        content = content.replace(CSRF_PLACEHOLDER, get_token(request).encode())
    return HttpResponse(content, content_type=content_type)
