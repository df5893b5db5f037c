"""Evidence uploads: size-limited, and typed by their content, never by their name or the browser's word."""

from __future__ import annotations

import os
import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _

from portal.storage import reaching_storage

ALLOWED = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "csv": "text/csv",
}
_SIGNATURES = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
)
_NAME_EXTENSIONS = {"pdf": "pdf", "png": "png", "jpg": "jpg", "jpeg": "jpg", "csv": "csv"}


def clean_filename(name: str) -> str:
    """The file's own name reduced to a safe display name: no folders, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "", name).strip(" .")
    return (name or "evidence")[:200]


def _sniff(head: bytes) -> str | None:
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def _looks_like_csv(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(ch.isprintable() or ch in "\t" for line in lines[:50] for ch in line)


def inspect_upload(upload: UploadedFile) -> tuple[str, str]:
    """Return (content type, extension) for an acceptable upload, or raise ValidationError saying why not."""
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size == 0:
        raise ValidationError(_("The file is empty."), code="empty")
    if upload.size > limit:
        raise ValidationError(
            _("The file is larger than %(limit)d MB."),
            code="too_large",
            params={"limit": limit // (1024 * 1024)},
        )
    upload.seek(0)
    data = upload.read(limit + 1)
    upload.seek(0)
    claimed = _NAME_EXTENSIONS.get(os.path.splitext(upload.name or "")[1].lower().lstrip("."))
    sniffed = _sniff(data[:16])
    if sniffed is None and claimed == "csv" and _looks_like_csv(data):
        sniffed = "csv"
    if sniffed is None:
        raise ValidationError(
            _("Attach a PDF, PNG, JPEG or CSV file; this file's content is none of those."), code="bad_type"
        )
    if claimed is not None and claimed != sniffed:
        raise ValidationError(
            _("The file is named like a %(claimed)s but its content is a %(actual)s."),
            code="disguised",
            params={"claimed": claimed.upper(), "actual": sniffed.upper()},
        )
    return ALLOWED[sniffed], sniffed


_EXTENSIONS = {content_type: extension for extension, content_type in ALLOWED.items()}


def download_name(original_name: str, content_type: str) -> str:
    """The uploader's name with the extension of what the file is: a PDF named "report.exe" is report.pdf."""
    stem = os.path.splitext(original_name)[0].strip(" .") or "evidence"
    return f"{stem}.{_EXTENSIONS.get(content_type, 'bin')}"


def download_response(attachment, *, content_type: str | None = None) -> FileResponse:
    """How an attachment leaves the portal, from the web and the API alike: always a download under its
    download_name, typed by its sniffed content (or as `content_type`), never rendered by the browser
    (nosniff, a sandbox CSP), and not kept by shared caches."""
    if content_type is None:
        known = attachment.content_type in _EXTENSIONS
        content_type = attachment.content_type if known else "application/octet-stream"
    # Streamed through the portal from either storage (docs/operations.md, "Files on object storage"): the
    # headers below are the portal's, whatever the bucket says. Opening reads the object's head and sizing it
    # fetches the object, so a storage that is away fails here (StorageUnavailable: 503), before any byte.
    with reaching_storage("read an attachment"):
        response = FileResponse(
            attachment.file.open("rb"),
            as_attachment=True,
            filename=download_name(attachment.original_name, attachment.content_type),
            content_type=content_type,
        )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
