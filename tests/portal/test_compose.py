"""docker-compose.yml describes the whole stack and validates offline."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"db", "pgbouncer", "redis", "storage", "migrate", "web", "lb", "worker", "beat", "mail"}
JOBS = {"migrate"}  # one-off: runs to completion, no health to check


def test_compose_file_validates_with_docker_compose() -> None:
    """`docker-compose config -q` accepts the file."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose must be installed to validate the compose file (see .ci/run)"
    result = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_compose_stack_has_every_service_with_a_health_check() -> None:
    """Every long-running service declares a health check; the migrate job is the one that ends."""
    config = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = config["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if name in JOBS:
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_migrations_are_a_one_off_job_that_everything_waits_for() -> None:
    """The migrate job runs migrate once, against PostgreSQL itself; web, worker and beat start after it."""
    stack = services()
    assert stack["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert stack["migrate"]["environment"]["DATABASE_URL"].startswith("postgres://portal:portal@db:")
    for name in ("web", "worker", "beat"):
        assert stack[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "migrate" not in " ".join(stack[name]["command"])


def test_web_is_stateless_and_scales_behind_the_load_balancer() -> None:
    """web runs gunicorn with no volume and no published port; lb publishes 8000 and balances round robin over
    every web container, with health checks and no sticky sessions."""
    stack = services()
    web = stack["web"]
    assert "gunicorn portal.wsgi" in " ".join(web["command"])
    assert web["build"] == "."
    assert (ROOT / "Dockerfile").exists()
    assert "ports" not in web and "volumes" not in web and "container_name" not in web
    assert stack["lb"]["ports"] == ["8000:8000"]
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "balance roundrobin" in config
    assert "option httpchk GET /healthz" in config
    assert "server-template web" in config and "resolvers docker" in config
    assert "cookie" not in config.split("backend web", 1)[1]  # no stickiness


def test_the_portal_reaches_postgresql_through_pgbouncer_and_files_in_the_bucket() -> None:
    """web and worker use PgBouncer in transaction pooling and MEDIA_STORAGE=s3 on the storage service."""
    stack = services()
    assert stack["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    for name in ("web", "worker", "beat"):
        environment = stack[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://portal:portal@pgbouncer:")
        assert environment["MEDIA_STORAGE"] == "s3"
        assert environment["AWS_S3_ENDPOINT_URL"] == "http://storage:8333"
    assert (
        stack["storage"]["environment"]["S3_BUCKET"] == stack["web"]["environment"]["AWS_STORAGE_BUCKET_NAME"]
    )


def test_there_is_one_beat() -> None:
    """Beat is not scaled: a second would run every periodic task twice."""
    beat = services()["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1


def test_worker_and_beat_use_the_same_image_and_the_broker() -> None:
    """Worker and beat run Celery from the web image against Redis."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    image = services["web"]["image"]
    for name in ("worker", "beat"):
        assert services[name]["image"] == image
        assert services[name]["command"][:3] == ["celery", "-A", "portal"]
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert services["web"]["environment"]["EMAIL_URL"] == "smtp://mail:1025"
