"""Where the portal keeps the files it is given (evidence, the attachments of customers' e-mails): the file
system on a laptop, an S3-compatible bucket in production (MEDIA_STORAGE=s3, docs/operations.md).

Either can be away. Every call that reaches the storage goes through reaching_storage(), which turns what
the backend raises into StorageUnavailable: a download answers 503, an upload is refused with a clear error,
and the case change that carried the file is not saved (cases.services.evidence_or_nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

logger = logging.getLogger("portal.storage")


def _backend_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # the file system alone needs no boto3
        return tuple(errors)
    return (*errors, Boto3Error, BotoCoreError, ClientError)


BACKEND_ERRORS = _backend_errors()


class StorageUnavailable(Exception):
    """The file storage could not be reached (or lost a file): nothing was stored or nothing can be read."""


@contextmanager
def reaching_storage(what: str) -> Iterator[None]:
    """Run a call to the file storage; what it raises becomes StorageUnavailable, logged with `what`."""
    try:
        yield
    except BACKEND_ERRORS as error:
        logger.warning("file storage unavailable (%s): %s: %s", what, type(error).__name__, error)
        raise StorageUnavailable(f"{what}: {type(error).__name__}") from error


def unavailable_message() -> str:
    """What a download (or any request but an upload) the storage failed says."""
    return _("The file storage cannot be reached just now. Please try again in a few minutes.")


def upload_refused() -> ValidationError:
    """The error on the file's field of an upload the storage failed."""
    return ValidationError(
        _(
            "The file could not be stored: the file storage cannot be reached just now. Nothing was saved; "
            "please try again in a few minutes."
        ),
        code="storage_unavailable",
    )


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 for a request the storage failed: the API's JSON error shape under /api/, else a page."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": {"code": "storage_unavailable", "message": unavailable_message()}}, status=503
        )
    else:
        response = render(request, "storage_unavailable.html", {"message": unavailable_message()}, status=503)
    response["Retry-After"] = "60"
    return response


class StorageUnavailableMiddleware:
    """A StorageUnavailable that no view turned into a form error is a 503, never a 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, StorageUnavailable):
            return unavailable_response(request)
        return None
