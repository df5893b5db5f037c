"""Settings come from the environment; bad values stop the portal at start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import DATABASE_SCHEMES, REDIS_SCHEMES, Env

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import django, json
django.setup()
from django.conf import settings as s
print(json.dumps({
    "engine": s.DATABASES["default"]["ENGINE"],
    "name": str(s.DATABASES["default"]["NAME"]),
    "eager": s.CELERY_TASK_ALWAYS_EAGER,
    "broker": s.CELERY_BROKER_URL,
    "cache": s.CACHES["default"]["BACKEND"],
    "email_backend": s.EMAIL_BACKEND,
    "email_path": str(getattr(s, "EMAIL_FILE_PATH", "")),
    "email_host": getattr(s, "EMAIL_HOST", ""),
    "debug": s.DEBUG,
    "secret_key": s.SECRET_KEY,
    "storage": s.STORAGES["default"]["BACKEND"],
    "storage_options": {k: v for k, v in s.STORAGES["default"].get("OPTIONS", {}).items() if k != "client_config"},
}))
"""

# Variables the parent test process (make test) sets, which must not leak into the "nothing set" runs.
PORTAL_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "VAR_DIR",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "MEDIA_STORAGE",
    "AWS_STORAGE_BUCKET_NAME",
)


def run_python(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in PORTAL_VARIABLES}
    base.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "VAR_DIR": str(tmp_path / "var")})
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def read_settings(env: dict[str, str], tmp_path: Path) -> dict:
    import json

    result = run_python(PRINT_SETTINGS, env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_default_uses_sqlite_eager_celery_and_mail_files(tmp_path: Path) -> None:
    """With nothing set, the portal runs on SQLite under var/, eager Celery and mail files."""
    values = read_settings({}, tmp_path)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "var" / "db.sqlite3")
    assert values["eager"] is True
    assert values["cache"].endswith("LocMemCache")
    assert values["email_backend"] == "django.core.mail.backends.filebased.EmailBackend"
    assert values["email_path"] == str(tmp_path / "var" / "mail")
    assert values["debug"] is True
    assert values["storage"] == "django.core.files.storage.FileSystemStorage"


def test_embedded_default_keeps_one_secret_key_under_var(tmp_path: Path) -> None:
    """The generated development key is written once and reused."""
    first = read_settings({}, tmp_path)["secret_key"]
    second = read_settings({}, tmp_path)["secret_key"]
    assert len(first) >= 50
    assert first == second
    assert (tmp_path / "var" / "secret_key").read_text().strip() == first


def test_production_variables_select_postgres_redis_and_smtp(tmp_path: Path) -> None:
    """DATABASE_URL, REDIS_URL and EMAIL_URL switch to the production services."""
    values = read_settings(
        {
            "DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "EMAIL_URL": "smtp+tls://mailer:pw@smtp.internal:587",
        },
        tmp_path,
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "portal"
    assert values["eager"] is False
    assert values["broker"] == "redis://cache.internal:6379/0"
    assert values["cache"].endswith("RedisCache")
    assert values["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert values["email_host"] == "smtp.internal"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://root@localhost/portal"),
        ("DATABASE_URL", "postgres://localhost:notaport/portal"),
        ("REDIS_URL", "http://localhost:6379"),
        ("EMAIL_URL", "carrier-pigeon://coop"),
        ("DATABASE_CONN_MAX_AGE", "forever"),
        ("CELERY_TASK_TIME_LIMIT", "-5"),
        ("SECURE_SSL_REDIRECT", "perhaps"),
        ("LOG_LEVEL", "chatty"),
        ("MEDIA_STORAGE", "floppy"),
    ],
)
def test_bad_value_fails_at_start_naming_the_variable(variable: str, value: str, tmp_path: Path) -> None:
    """A malformed variable stops start-up with a message that names it."""
    result = run_python("import django; django.setup()", {variable: value}, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DEBUG": "0", "ALLOWED_HOSTS": "portal.example"}, "SECRET_KEY"),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "portal.example", "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DEBUG": "0", "SECRET_KEY": "x" * 60}, "ALLOWED_HOSTS"),
    ],
)
def test_production_requires_secret_key_and_allowed_hosts(
    env: dict[str, str], variable: str, tmp_path: Path
) -> None:
    """DEBUG=0 refuses to start without a strong SECRET_KEY and ALLOWED_HOSTS."""
    result = run_python("import django; django.setup()", env, tmp_path)
    assert result.returncode != 0
    assert variable in result.stderr.splitlines()[-1]


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    """`manage.py check --deploy` reports nothing once the production variables are set."""
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "k3y-" + "a8Zq1_pL0-x9" * 6,
        "ALLOWED_HOSTS": "portal.example",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "EMAIL_URL": "smtp://127.0.0.1:1025",
    }
    base = {k: v for k, v in os.environ.items() if k not in PORTAL_VARIABLES}
    base.update(env, VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_media_storage_s3_selects_django_storages_with_its_own_variables(tmp_path: Path) -> None:
    """MEDIA_STORAGE=s3 keeps files in the named private bucket, through django-storages' S3 backend."""
    values = read_settings(
        {
            "MEDIA_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": "portal-evidence",
            "AWS_S3_ENDPOINT_URL": "http://storage.internal:8333",
            "AWS_S3_REGION_NAME": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "key",
            "AWS_SECRET_ACCESS_KEY": "secret",
        },
        tmp_path,
    )
    assert values["storage"] == "storages.backends.s3.S3Storage"
    options = values["storage_options"]
    assert options["bucket_name"] == "portal-evidence"
    assert options["endpoint_url"] == "http://storage.internal:8333"
    assert options["region_name"] == "eu-west-1"
    assert options["default_acl"] is None
    assert (options["access_key"], options["secret_key"]) == ("key", "secret")


def test_media_storage_s3_without_a_bucket_fails_at_start(tmp_path: Path) -> None:
    """MEDIA_STORAGE=s3 with no bucket named stops start-up saying which variable is missing."""
    result = run_python("import django; django.setup()", {"MEDIA_STORAGE": "s3"}, tmp_path)
    assert result.returncode != 0
    assert "AWS_STORAGE_BUCKET_NAME" in result.stderr.splitlines()[-1]


def test_env_bool_accepts_the_usual_words() -> None:
    """Booleans accept 1/0, true/false, yes/no, on/off in any case."""
    env = Env({"A": "Yes", "B": "off", "C": " TRUE ", "D": ""})
    assert env.bool("A", False) is True
    assert env.bool("B", True) is False
    assert env.bool("C", False) is True
    assert env.bool("D", True) is True  # empty means "not set"
    assert env.bool("MISSING", False) is False


def test_env_list_splits_on_commas() -> None:
    """Lists are comma-separated with blanks dropped."""
    env = Env({"HOSTS": "a.example, b.example,,"})
    assert env.list("HOSTS", []) == ["a.example", "b.example"]
    assert env.list("NONE", ["x"]) == ["x"]


def test_env_url_rejects_unknown_scheme_and_missing_host() -> None:
    """URLs must use a known scheme and name a host."""
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL has scheme 'amqp'"):
        Env({"REDIS_URL": "amqp://localhost"}).url("REDIS_URL", None, schemes=REDIS_SCHEMES)
    with pytest.raises(ImproperlyConfigured, match="names no host"):
        Env({"DATABASE_URL": "postgres:///portal"}).url("DATABASE_URL", None, schemes=DATABASE_SCHEMES)
    assert Env({}).url("REDIS_URL", None, schemes=REDIS_SCHEMES) is None
