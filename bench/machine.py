"""What the benchmarks ran on: CPU, cores, memory, OS and the versions of everything under test."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    match = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def memory() -> str:
    match = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    return f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else "unknown"


def os_name() -> str:
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release"), re.MULTILINE)
    name = match.group(1) if match else platform.system()
    return f"{name}, kernel {platform.release()}"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe(generator: str) -> dict[str, str]:
    """Call after django.setup(): asks PostgreSQL and Redis for their versions."""
    import django
    import gunicorn
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_version = redis.Redis.from_url(settings.REDIS_URL).info("server").get("redis_version", "?")
    return {
        "CPU": f"{cpu_model()} ({os.cpu_count()} cores)",
        "Memory": memory(),
        "OS": os_name(),
        "Python": platform.python_version(),
        "PostgreSQL": str(postgres),
        "Redis": str(redis_version),
        "Django / gunicorn": f"{django.get_version()} / {gunicorn.__version__}",
        "Load generator": generator,
    }


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(process_group: int, database: str) -> tuple[float, float]:
    """CPU time (user + system) used so far by the processes of a process group (gunicorn's master and
    workers) and by the PostgreSQL backends connected to `database`, from /proc. A backend that ended
    between two readings takes its time with it: read around a run on connections that stay open."""
    server = postgres = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
        if int(fields[2]) == process_group:  # the process group id
            server += used
        elif command.startswith(b"postgres: ") and f" {database} ".encode() in command:
            postgres += used
    return server, postgres
