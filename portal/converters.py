"""Path converters for the portal's addresses: what cannot be a case number or an id never reaches a view.

`<int:pk>` takes any run of digits, and a value beyond a 64-bit integer then fails inside the database driver
(SQLite: "Python int too large"); `<str:number>` takes anything but a slash, a NUL byte included, which
PostgreSQL refuses in a query. These say what the values are, so anything else is a plain 404.
"""

from __future__ import annotations

from django.urls import register_converter


class IdConverter:
    """A primary key: at most 18 digits, so always below 2**63 (BigAutoField)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


class CaseNumberConverter:
    """PREFIX-1001: the partner's case prefix (2 to 6 capital letters) and a number."""

    regex = "[A-Z]{2,6}-[0-9]{1,10}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdConverter, "id")
register_converter(CaseNumberConverter, "case")
