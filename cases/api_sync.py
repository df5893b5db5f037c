"""How a partner's tool keeps up with cases: a change cursor for syncs, and the ETag of a case for If-Match.

A sync reads cases in the order they last changed, (updated_at, id), from a cursor that names the last case
read. A case that changes while the sync runs moves behind the cursor and comes again with its new state;
one that does not change never comes twice; none is skipped, because a page only reaches as far as
API_SYNC_SETTLE_SECONDS ago: a change is saved with the time it was made, and is visible to others only when
its transaction commits a moment later, so the newest moments wait until every change made in them is in.
"""

from __future__ import annotations

import datetime
import hashlib
import re

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status

from cases.models import Case


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = gettext_lazy(
        "The case has changed since you read it: read it again, and send its new ETag in If-Match."
    )


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MICROSECOND = datetime.timedelta(microseconds=1)
# "<microseconds since 1970>-<case id>": every string of this form names a position, so the schema can say
# exactly which cursors are valid.
CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9]{1,18}$"


def encode_cursor(updated_at: datetime.datetime, pk: int) -> str:
    return f"{(updated_at - EPOCH) // MICROSECOND}-{pk}"


def decode_cursor(cursor: str) -> tuple[datetime.datetime, int]:
    """The position a cursor names; anything not of the cursor's form is a 400 on `cursor`."""
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise exceptions.ValidationError({"cursor": [_("Use a cursor this API gave you.")]})
    micros, pk = cursor.split("-")
    return EPOCH + int(micros) * MICROSECOND, int(pk)


def after(queryset: QuerySet, position: tuple[datetime.datetime, int] | None) -> QuerySet:
    """The cases after `position` in the order of change, up to the settled past."""
    settled = timezone.now() - datetime.timedelta(seconds=settings.API_SYNC_SETTLE_SECONDS)
    queryset = queryset.filter(updated_at__lte=settled).order_by("updated_at", "pk")
    if position is not None:
        moment, pk = position
        queryset = queryset.filter(Q(updated_at__gt=moment) | Q(updated_at=moment, pk__gt=pk))
    return queryset


def etag(case: Case) -> str:
    """A strong entity tag of the case's version: it changes with every change to the case."""
    version = f"{case.pk}:{case.updated_at.astimezone(datetime.UTC).isoformat()}"
    return '"' + hashlib.sha256(version.encode()).hexdigest()[:16] + '"'


_ENTITY_TAG = re.compile(r'(W/)?"[^"]*"')


def if_match(header: str | None) -> list[str] | None:
    """The strong entity tags an If-Match header names (None without the header, ["*"] for any version).
    Weak tags never match (If-Match compares strongly), and a header that is not a list of tags names none:
    either way the change is refused with 412, as for a stale tag."""
    if header is None:
        return None
    if header.strip() == "*":
        return ["*"]
    return [match.group(0) for match in _ENTITY_TAG.finditer(header) if not match.group(1)]


def check_if_match(case: Case, tags: list[str] | None) -> None:
    """Refuse with 412 a change to a case whose version is not one of `tags`."""
    if tags is None or tags == ["*"]:
        return
    if etag(case) not in tags:
        raise PreconditionFailed()
