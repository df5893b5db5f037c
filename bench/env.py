"""The environment every benchmark process shares: production settings on loopback, a dedicated database."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"

# Dedicated services, so a run never touches the development or test databases.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(*, web_port: int, smtp_port: int) -> dict[str, str]:
    """Production settings (DEBUG=0) for plain HTTP on 127.0.0.1."""
    return {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: no redirect to https, cookies without the Secure flag.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": "bench",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "PORTAL_BASE_URL": f"http://127.0.0.1:{web_port}",
        "STATIC_ROOT": str(WORK / "static"),
        "MEDIA_ROOT": str(WORK / "media"),
        "VAR_DIR": str(WORK),
        "LOG_LEVEL": "WARNING",
        # The API allows 600 requests a minute per token; a load test makes thousands a second with one.
        "API_THROTTLE_RATE": "100000000/minute",
        "LOGIN_FAILURE_LIMIT": "1000",
    }
