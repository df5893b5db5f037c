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


def cpu_seconds(process_group: int, database: str) -> dict[int, tuple[str, float]]:
    """CPU time (user + system) used so far, per process, by the processes of a process group ("server":
    gunicorn's master and workers) and by the PostgreSQL backends connected to `database` ("postgres"), from
    /proc. See cpu_used() for the difference of two readings."""
    found: dict[int, tuple[str, float]] = {}
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
            found[int(entry)] = ("server", used)
        elif command.startswith(b"postgres: ") and f" {database} ".encode() in command:
            found[int(entry)] = ("postgres", used)
    return found


def cpu_used(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> tuple[float, float]:
    """(server, postgres) CPU seconds between two readings: what each process still running used since the
    first, all of what a process started since used. A process that ended between them (a database
    connection past its DATABASE_CONN_MAX_AGE) takes its last moments with it: a slight undercount, never a
    negative one."""
    totals = {"server": 0.0, "postgres": 0.0}
    for pid, (kind, used) in after.items():
        earlier = before.get(pid)
        totals[kind] += used - (earlier[1] if earlier and earlier[0] == kind else 0.0)
    return totals["server"], totals["postgres"]
