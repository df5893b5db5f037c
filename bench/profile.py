"""Profile pages of the portal with pyinstrument, in-process, on the benchmark's data.

    python -m bench.profile /en/cases/all/?sort=severity&page=7 [--repeat 200] [--as viewer|api|anonymous]

Runs the request through the whole middleware stack (Django's test client, production settings: DEBUG=0,
PostgreSQL, Redis) `--repeat` times after one warm-up, and prints pyinstrument's call tree of all of them
together; `--html` also writes var/bench/profile.html. A random parameter is added to each request, as the
benchmark does. The data is what `make bench` left in its database (portal_bench); `--load` loads it anew.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from bench import data, env
from bench.client import authenticator_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="paths to request, each in turn")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--as", dest="who", choices=["viewer", "api", "anonymous"], default="viewer")
    parser.add_argument("--html", action="store_true", help="also write var/bench/profile.html")
    parser.add_argument("--time", action="store_true", help="only time the requests, without the profiler")
    parser.add_argument("--flat", type=int, default=0, metavar="N", help="the N costliest functions instead")
    parser.add_argument("--load", action="store_true", help="load the benchmark's data first")
    args = parser.parse_args(argv)

    environment = env.environment(web_port=8000, smtp_port=2525)
    environment["ALLOWED_HOSTS"] = "testserver"
    os.environ.update(environment)
    import django

    if args.load:
        data.recreate_database(env.DATABASE_URL)
    django.setup()
    from bench.run import finish_collectstatic, start_collectstatic

    finish_collectstatic(start_collectstatic(environment))  # pages name their static files by the manifest
    from django.core.management import call_command
    from django.test import Client
    from pyinstrument import Profiler

    from cases.models import Membership
    from portal.models import ApiToken

    if args.load:
        call_command("migrate", verbosity=0)
        data.load_cases(viewer_password=secrets.token_urlsafe(16))
        data.load_articles()
        data.analyse()
    viewer = Membership.objects.filter(partner__case_prefix="CON", roles__contains=["global_admin"]).first()
    if viewer is None:
        raise SystemExit("No benchmark data: run `make bench` first, or pass --load.")
    client = Client()
    headers: dict[str, str] = {}
    if args.who == "viewer":
        # The production settings require a second factor: the viewer gets a new authenticator app (the key of
        # the one the data was made with is gone), and the session gives its code after the password step.
        key = data.enrol_viewer(viewer.user)
        client.force_login(viewer.user)
        answer = client.post("/en/accounts/mfa/verify/", {"code": authenticator_code(key), "next": "/en/"})
        if answer.status_code != 302 or answer["Location"] != "/en/":
            raise SystemExit(f"the code step answered {answer.status_code}: the viewer is not signed in")
    elif args.who == "api":
        _token, key = ApiToken.issue(user=viewer.user, name="profile")
        headers["Authorization"] = f"Bearer {key}"

    def fetch(path: str) -> None:
        joiner = "&" if "?" in path else "?"
        response = client.get(f"{path}{joiner}r={secrets.token_hex(6)}", headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")

    for path in args.paths:
        fetch(path)  # first request: imports, connections, compiled templates
    if args.time:
        import time

        # The page and /ping in alternating slices, as make bench does: the machine's drift weighs on both.
        page_cpu = ping_cpu = page_wall = 0.0
        per_slice = max(1, args.repeat // 10)
        anonymous = Client()
        for n in range(10):
            started, cpu = time.perf_counter(), time.process_time()
            for k in range(per_slice):
                fetch(args.paths[(n * per_slice + k) % len(args.paths)])
            page_wall += time.perf_counter() - started
            page_cpu += time.process_time() - cpu
            cpu = time.process_time()
            for _k in range(per_slice * 4):
                anonymous.get("/ping")
            ping_cpu += (time.process_time() - cpu) / 4
        count = per_slice * 10
        print(
            f"{page_wall / count * 1000:.1f} ms a request, {page_cpu / count * 1000:.1f} ms of it on this "
            f"process's CPU; /ping {ping_cpu / count * 1000:.2f} ms; CPU ratio {ping_cpu / page_cpu:.3f}"
        )
        return 0
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for n in range(args.repeat):
        fetch(args.paths[n % len(args.paths)])
    profiler.stop()
    if args.flat and os.environ.get("PROFILE_SELF") == "1":
        from pyinstrument.renderers import ConsoleRenderer

        renderer = ConsoleRenderer(unicode=True, color=False, flat=True, time="percent_of_total")
        print("\n".join(profiler.output(renderer).splitlines()[: args.flat]))
    elif args.flat:
        print(_inclusive(profiler.last_session.root_frame(), args.flat))
    else:
        print(profiler.output_text(unicode=True, color=False))
    if args.html:
        out = env.WORK / "profile.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(profiler.output_html())
        print(f"written to {out}", file=sys.stderr)
    return 0


def _inclusive(root, limit: int) -> str:
    """The functions with the most time spent in them and in what they call (each call counted once)."""
    totals: dict[str, float] = {}

    def walk(frame, seen: frozenset[str]) -> None:
        name = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
        if name not in seen:
            totals[name] = totals.get(name, 0.0) + frame.time
        for child in frame.children:
            walk(child, seen | {name})

    walk(root, frozenset())
    whole = root.time or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:limit]
    return "\n".join(f"{time / whole:6.1%}  {name}" for name, time in ranked)


if __name__ == "__main__":
    sys.exit(main())
