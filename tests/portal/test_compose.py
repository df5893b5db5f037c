"""docker-compose.yml describes the whole stack and validates offline."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"db", "redis", "web", "worker", "beat", "mail"}


def test_compose_file_validates_with_docker_compose() -> None:
    """`docker-compose config -q` accepts the file."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose must be installed to validate the compose file (see .ci/run)"
    result = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_compose_stack_has_every_service_with_a_health_check() -> None:
    """PostgreSQL, Redis, web, worker, beat and the mail catcher each declare a health check."""
    config = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = config["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def test_web_runs_gunicorn_and_migrates_on_start() -> None:
    """The web service migrates and then runs gunicorn, built from the one Dockerfile."""
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    command = " ".join(web["command"])
    assert "migrate --noinput" in command
    assert "gunicorn portal.wsgi" in command
    assert web["build"] == "."
    assert (ROOT / "Dockerfile").exists()


def test_worker_and_beat_use_the_same_image_and_the_broker() -> None:
    """Worker and beat run Celery from the web image against Redis."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    image = services["web"]["image"]
    for name in ("worker", "beat"):
        assert services[name]["image"] == image
        assert services[name]["command"][:3] == ["celery", "-A", "portal"]
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert services["web"]["environment"]["EMAIL_URL"] == "smtp://mail:1025"
