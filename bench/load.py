"""Load generators: wrk when it is installed, else Python threads on keep-alive http.client connections.

Both run a fixed concurrency for a fixed time against a list of paths (taken in turn, each connection from
its own place in the list) with fixed headers, and report requests per second, the 95th percentile of the
response time, the responses that were not 200, and bytes per response. The same generator, concurrency and
duration serve the baseline and every page of one run.

Run as `python -m bench.load URL-JSON` it is the Python generator's own process (so its threads do not
share an interpreter lock with the benchmark runner).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "3"))


@dataclass
class Result:
    requests: int
    seconds: float
    errors: int  # responses other than 200, and socket errors
    bytes_per_response: float
    p95_ms: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


def ensure_wrk() -> str | None:
    """wrk, installed with apt-get when missing and allowed (BENCH_INSTALL_WRK=0 turns that off)."""
    found = wrk_path()
    if found or os.environ.get("BENCH_INSTALL_WRK", "1") == "0":
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print("wrk is not installed; trying apt-get install wrk ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 180}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=env, check=False, **quiet).returncode:  # noqa: S603
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, **quiet)  # noqa: S607
            subprocess.run(install, env=env, check=False, **quiet)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    return wrk_path()


_LUA = """
local paths = {%(paths)s}
local counter = 0
%(headers)s
-- Each wrk thread starts at its own place in the list, so no two threads ask for the same address.
setup = function(thread)
  thread:set("start", counter * 7919)
  counter = counter + 1
end
init = function(args)
  n = start or 0
end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("p95_us %%d\\n", latency:percentile(95)))
end
"""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_size(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)([KMG]?)B", text)
    if not match:
        return 0.0
    return float(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2)]


def run_wrk(
    wrk: str, port: int, paths: list[str], headers: dict[str, str], duration: float, concurrency: int
) -> Result:
    script = _LUA % {
        "paths": ", ".join(_lua_string(p) for p in paths),
        "headers": "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(  # noqa: S603 - our own arguments
            [
                wrk,
                "-t2",
                f"-c{concurrency}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "-s",
                handle.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 60,
        ).stdout
    finally:
        os.unlink(handle.name)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)", out)
    if total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    requests = int(total.group(1))
    seconds = float(total.group(2)) * {"s": 1, "ms": 0.001, "m": 60}[total.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    transfer = re.search(r"Transfer/sec:\s+([\d.]+[KMG]?B)", out)
    per_second = _parse_size(transfer.group(1)) if transfer else 0.0
    rps = requests / seconds if seconds else 0
    p95 = re.search(r"p95_us (\d+)", out)
    p95_ms = int(p95.group(1)) / 1000 if p95 else 0.0
    return Result(requests, seconds, errors, per_second / rps if rps else 0.0, p95_ms)


def run_python(
    port: int, paths: list[str], headers: dict[str, str], duration: float, concurrency: int
) -> Result:
    """The Python generator, in its own process."""
    spec = {
        "port": port,
        "paths": paths,
        "headers": headers,
        "duration": duration,
        "concurrency": concurrency,
    }
    out = subprocess.run(  # noqa: S603 - our own arguments
        [sys.executable, "-m", "bench.load", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    data = json.loads(out)
    return Result(
        data["requests"], data["seconds"], data["errors"], data["bytes_per_response"], data["p95_ms"]
    )


def _python_generator(spec: dict) -> dict:
    port, paths, headers = spec["port"], spec["paths"], spec["headers"]
    concurrency, duration = spec["concurrency"], spec["duration"]
    counts = [[0, 0, 0] for _ in range(concurrency)]  # requests, errors, bytes
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = slot * 7919  # each connection from its own place in the list, as wrk's threads
        start.wait()
        mine = counts[slot]
        while time.perf_counter() < deadline[0]:
            path = paths[n % len(paths)]
            n += 1
            try:
                sent = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                latencies[slot].append(time.perf_counter() - sent)
            except (OSError, http.client.HTTPException):
                mine[1] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            mine[0] += 1
            mine[2] += len(body)
            if response.status != 200:
                mine[1] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    requests = sum(c[0] for c in counts)
    every = sorted(latency for mine in latencies for latency in mine)
    return {
        "p95_ms": every[int(len(every) * 0.95)] * 1000 if every else 0.0,
        "requests": requests,
        "seconds": seconds,
        "errors": sum(c[1] for c in counts),
        "bytes_per_response": sum(c[2] for c in counts) / requests if requests else 0.0,
    }


class Generator:
    """The load generator of one run: wrk or the Python one, with fixed concurrency and durations."""

    def __init__(self, wrk: str | None, concurrency: int = CONCURRENCY, duration: float = DURATION) -> None:
        self.wrk = wrk
        self.concurrency = concurrency
        self.duration = duration

    @property
    def name(self) -> str:
        if self.wrk:
            return f"wrk (2 threads, {self.concurrency} connections, {self.duration:g} s)"
        return f"Python http.client ({self.concurrency} threads, keep-alive, {self.duration:g} s)"

    def run(
        self, port: int, paths: list[str], headers: dict[str, str], duration: float | None = None
    ) -> Result:
        duration = self.duration if duration is None else duration
        if self.wrk:
            return run_wrk(self.wrk, port, paths, headers, duration, self.concurrency)
        return run_python(port, paths, headers, duration, self.concurrency)


if __name__ == "__main__":
    print(json.dumps(_python_generator(json.loads(sys.argv[1]))))
