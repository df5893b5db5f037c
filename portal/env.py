"""Strict readers for settings taken from the environment.

django-environ parses URLs and lists; these wrappers make every bad value fail at start
with a message that names the variable, instead of silently falling back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

DATABASE_SCHEMES = frozenset({"postgres", "postgresql", "pgsql", "sqlite"})
REDIS_SCHEMES = frozenset({"redis", "rediss"})
EMAIL_SCHEMES = frozenset(
    {"smtp", "smtps", "smtp+tls", "smtp+ssl", "consolemail", "filemail", "memorymail", "dummymail"}
)


class Env:
    """Reads typed values from a mapping (normally ``os.environ``)."""

    def __init__(self, environ_: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ_ is None else environ_

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
        )

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={value!r} must be at least {minimum}.")
        return number

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(self, name: str, default: str | None, *, schemes: frozenset[str]) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            allowed = ", ".join(sorted(schemes))
            raise ImproperlyConfigured(
                f"{name} has scheme {parts.scheme or '(none)'!r}; expected one of: {allowed}."
            )
        if parts.scheme != "sqlite" and not parts.hostname and schemes != EMAIL_SCHEMES:
            raise ImproperlyConfigured(f"{name}={value!r} names no host.")
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} has a malformed port.") from None
        return value

    def database(self, name: str, default: str, **options: Any) -> dict[str, Any]:
        url = self.url(name, default, schemes=DATABASE_SCHEMES)
        assert url is not None
        config = environ.Env.db_url_config(url)
        config.update(options)
        return config

    def email(self, name: str) -> dict[str, Any] | None:
        url = self.url(name, None, schemes=EMAIL_SCHEMES)
        if url is None:
            return None
        return environ.Env.email_url_config(url)
