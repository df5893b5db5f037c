"""Suite-wide fixtures. The suite runs against the real PostgreSQL and Redis (see `make test`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import UserFactory
from tests.seaweedfs import SeaweedFS, start_seaweedfs

pytest_plugins = ["tests.cast"]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    # Fail at once, with what to do, rather than run (or skip) against the wrong services.
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError(
            "The test suite runs on PostgreSQL: run `make test`, or set DATABASE_URL=postgres://… "
            f"(the current database engine is {engine})."
        )
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("The test suite needs Redis: run `make test`, or set REDIS_URL=redis://…")
    # Hashing passwords at production strength would make each user cost ~0.3 s; tests need no such strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # django-jinja sends Django's template_rendered signal (so response.context works) only in debug mode.
    for engine in settings.TEMPLATES:
        if engine["BACKEND"] == "django_jinja.jinja2.Jinja2":
            engine["OPTIONS"]["debug"] = True
    from django.template import engines

    engines.__dict__.pop("templates", None)
    engines._engines = {}
    # Playwright's sync API runs an event loop in the test thread; the tests' ORM calls stay synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _static_storage(settings) -> None:
    """Serve static files without a manifest, so tests need no collectstatic step."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """reverse() in tests builds /en/ URLs, whatever language an earlier request activated."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache (the suite's own Redis database; see `make test`)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def eager_tasks(settings) -> None:
    """Run Celery tasks in-process (the embedded default), as `make run` does without a broker.

    Celery reads its CELERY_ settings live from Django's settings, so overriding the setting is the way;
    assigning app.conf directly would stick for the rest of the session.
    """
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def seeded(db) -> None:
    """The seed guidance (guidance/content) imported, as `make run` does."""
    from django.core.management import call_command

    call_command("import_guidance", str(ROOT / "guidance" / "content"), verbosity=0)


@pytest.fixture
def password() -> str:
    return "correct-horse-battery-staple"


@pytest.fixture
def member(db: None, password: str):
    """A signed-up portal user with no special rights."""
    return UserFactory(email="member@contoso.example", full_name="Mia Member", password=password)


@pytest.fixture
def staff(db: None, password: str):
    """A staff superuser who may open Django admin."""
    return UserFactory(
        email="admin@portal.example",
        full_name="Ada Admin",
        password=password,
        is_staff=True,
        is_superuser=True,
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One real S3-compatible server (SeaweedFS) for the whole run, started on first use."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A git-ignored folder for this test's screenshots and logs."""
    path = ARTIFACTS / request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    path.mkdir(parents=True, exist_ok=True)
    yield path
