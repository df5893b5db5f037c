"""`make bench`: the portal's throughput under gunicorn on PostgreSQL and Redis, against a baseline.

    python -m bench.run [--only pages,pipeline,import] [--no-docs]

1. A dedicated database (portal_bench, dropped and created again) and Redis database (/9, emptied) get
   generated data: 100,000 cases over ten partners (10,000 for the measured one), 1,000 guidance articles in
   five languages, and 1,000 resolved cases whose resolution e-mails are owed.
2. gunicorn serves the portal with production settings (DEBUG=0) on 127.0.0.1. The same load generator,
   concurrency and duration measure the baseline (/ping, a view returning "pong" through the same
   middleware) and each page, in alternating slices (baseline, page, baseline, page, ...): a page's ratio is
   against the baseline slices beside it, so other load on a shared machine weighs on both sides alike.
3. The close-the-loop pipeline (Redis, one Celery worker, a local SMTP server) is timed against sending the
   same 1,000 messages with plain smtplib; 1,000 DocFX files are imported with import_guidance.

The table is printed and written into docs/benchmarks.md; the exit status is 1 if a target is missed.
See docs/benchmarks.md for what makes each page fast.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from bench import client, data, env, load, machine, server

ARTICLE_ROTATION = int(os.environ.get("BENCH_ARTICLES", "100"))  # article pages visited in turn
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))  # baseline/page slot pairs per page
DOCS = env.ROOT / "docs" / "benchmarks.md"
RESULTS_START = "<!-- bench:results -->"
RESULTS_END = "<!-- /bench:results -->"


@dataclass
class Page:
    name: str
    paths: list[str]
    target: float | None  # None: reported, no target
    headers: dict[str, str] = field(default_factory=dict)
    expect: tuple[str, ...] = ()  # text every page must contain (checked before it is measured)
    busy: bool = False  # measured while another connection changes one of the partner's cases every 100 ms
    cpu_ms: tuple[float, ...] = (0.0, 0.0)  # measured: CPU a request in the server and in PostgreSQL
    ping_cpu_ms: float = 0.0  # measured: CPU a /ping request in the server, in the slices beside this page


@dataclass
class Row:
    name: str
    value: str
    ratio: str = ""
    p95: str = ""
    connections: str = ""
    target: str = ""
    result: str = ""

    @property
    def passed(self) -> bool:
        return self.result != "FAIL"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Preparation ------------------------------------------------------------------------------------


def _static_fingerprint() -> str:
    import hashlib

    from django.contrib.staticfiles import finders

    digest = hashlib.sha256()
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size};".encode())
    return digest.hexdigest()


def start_collectstatic(environment: dict[str, str]) -> subprocess.Popen | None:
    """Collect static files in the background (Brotli and gzip take a while), unless nothing changed."""
    marker = env.WORK / "static" / ".bench-fingerprint"
    fingerprint = _static_fingerprint()
    if (
        marker.exists()
        and marker.read_text() == fingerprint
        and (env.WORK / "static/staticfiles.json").exists()
    ):
        return None
    marker.unlink(missing_ok=True)
    return subprocess.Popen(  # noqa: S603 - our own arguments
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "--verbosity", "0"],
        cwd=env.ROOT,
        env={**os.environ, **environment},
    )


def finish_collectstatic(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    if process.wait() != 0:
        raise SystemExit("collectstatic failed")
    (env.WORK / "static" / ".bench-fingerprint").write_text(_static_fingerprint())


def prepare(environment: dict[str, str], password: str) -> data.Loaded:
    import redis

    log(f"database {env.DATABASE_URL.rsplit('/', 1)[-1]} (recreated), Redis {env.REDIS_URL} (emptied)")
    data.recreate_database(env.DATABASE_URL)
    redis.Redis.from_url(env.REDIS_URL).flushdb()

    import django

    django.setup()
    from django.core.management import call_command

    collect = start_collectstatic(environment)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    partner_id, viewer, totp_key, api_key, counts = data.load_cases(viewer_password=password)
    slugs = data.load_articles()
    pipeline_ids, warmup_ids = data.load_pipeline_cases()
    data.analyse()
    # The loading asked for a delivery run and filled the cache as the portal would: start both empty.
    redis.Redis.from_url(env.REDIS_URL).flushdb()
    log(
        f"loaded {counts['cases']:,} cases ({counts['measured_cases']:,} for the measured partner, "
        f"{counts['partners']} partners), {len(slugs):,} articles × 5 languages, {len(pipeline_ids):,} "
        f"resolved cases with their e-mails owed, in {time.perf_counter() - started:.0f} s"
    )
    finish_collectstatic(collect)
    return data.Loaded(
        partner_id=partner_id,
        viewer_email=viewer,
        viewer_password=password,
        viewer_totp_key=totp_key,
        api_key=api_key,
        article_slugs=slugs,
        pipeline_ids=pipeline_ids,
        warmup_ids=warmup_ids,
        counts=counts,
    )


def reuse(environment: dict[str, str], password: str) -> data.Loaded:
    """The data an earlier run left in the benchmark database (for measuring pages again while working)."""
    import django

    django.setup()
    from cases.models import Case, Membership
    from guidance.models import Article
    from portal.models import ApiToken

    collect = start_collectstatic(environment)
    viewer = Membership.objects.select_related("user").filter(partner__case_prefix="CON").order_by("pk")[0]
    viewer.user.set_password(password)
    viewer.user.save(update_fields=["password"])
    totp_key = data.enrol_viewer(viewer.user)  # a new authenticator app: the earlier run's key is gone
    _token, api_key = ApiToken.issue(user=viewer.user, name="benchmark")
    finish_collectstatic(collect)
    log(f"reusing the data in {env.DATABASE_URL.rsplit('/', 1)[-1]}")
    return data.Loaded(
        partner_id=viewer.partner_id,
        viewer_email=viewer.user.email,
        viewer_password=password,
        viewer_totp_key=totp_key,
        api_key=api_key,
        article_slugs=list(Article.objects.order_by("pk").values_list("slug", flat=True)),
        pipeline_ids=[],
        warmup_ids=[],
        counts={"measured_cases": Case.objects.filter(partner_id=viewer.partner_id).count()},
    )


# --- Pages ------------------------------------------------------------------------------------------

# Every measured request is one no earlier request made: a parameter the portal ignores with a random value,
# and, where a page has them, a random choice among what a user can pick (sort, page, case, article).
ADDRESSES = int(os.environ.get("BENCH_ADDRESSES", "20000"))
P95_TARGET_MS = 100.0
CASE_LIST_SORTS = ["-created", "created", "-updated", "severity", "number"]
BUSY_INTERVAL = 0.1
DATABASE_NAME = env.DATABASE_URL.rsplit("/", 1)[-1]


def _addresses(make, rng) -> list[str]:
    return [make(rng) + f"&r={rng.getrandbits(48):x}" for _ in range(ADDRESSES)]


def pages_to_measure(loaded: data.Loaded, cookie: str) -> list[Page]:
    import random

    rng = random.Random(secrets.randbits(32))  # noqa: S311 - addresses, not secrets
    cases = loaded.counts["measured_cases"]
    list_pages = -(-cases // 25)  # the case list shows 25 a page
    api_pages = -(-cases // 50)
    signed_in = {"Cookie": cookie}
    case_list = _addresses(
        lambda r: f"/en/cases/all/?sort={r.choice(CASE_LIST_SORTS)}&page={r.randint(1, list_pages)}", rng
    )
    articles = loaded.article_slugs[:ARTICLE_ROTATION]
    today = datetime.datetime.now(datetime.UTC).date()
    return [
        Page("case list, uncached", case_list, 0.12, signed_in, (f"{cases} cases",)),
        Page("case list, busy partner", case_list, 0.12, signed_in, ("cases</p>",), busy=True),
        Page(
            "dashboard, uncached",
            _addresses(lambda r: "/en/cases/?", rng),
            0.15,
            signed_in,
            ('class="stats"',),
        ),
        Page(
            # The reports' aggregates over the last 90 days (the default period) up to a random recent day.
            "reports",
            _addresses(lambda r: f"/en/reports/?to={today - datetime.timedelta(days=r.randint(0, 30))}", rng),
            0.05,
            signed_in,
            ('class="chart"', "report-weekly"),
        ),
        Page(
            "case detail, uncached",
            _addresses(lambda r: f"/en/cases/CON-{r.randint(1001, 1000 + cases)}/?", rng),
            0.15,
            signed_in,
            ('class="timeline"',),
        ),
        Page(
            "API case list, uncached",
            _addresses(lambda r: f"/api/v1/cases/?page={r.randint(1, api_pages)}", rng),
            0.25,
            {"Authorization": f"Bearer {loaded.api_key}"},
            (f'"count":{cases}',),
        ),
        Page(
            "guidance article, uncached",
            _addresses(lambda r: f"/ja/guidance/global/{r.choice(articles)}/?bilingual=1", rng),
            0.35,
            expect=('class="segment-source" lang="en"', '<article class="article" lang="ja">'),
        ),
        # The frame every page is drawn in, with nothing of its own: the header, the menus, the footer, and
        # for the signed-in one the session, the user and the partner. No page can beat its frame's ratio.
        Page(
            "home page, anonymous (frame only)",
            _addresses(lambda r: "/ja/?", rng),
            None,
            expect=('class="site-header"',),
        ),
        Page(
            "home page, signed in (frame only)",
            _addresses(lambda r: "/en/?", rng),
            None,
            signed_in,
            ('data-testid="signed-in-user"',),
        ),
    ]


def _check(port: int, page: Page, sample: int = 20) -> None:
    for path in page.paths[:sample]:
        status, _headers, body = client.get(port, path, page.headers)
        text = body.decode(errors="replace")
        if status != 200:
            raise SystemExit(f"{page.name}: GET {path} answered {status}")
        missing = [marker for marker in page.expect if marker not in text]
        if missing:
            raise SystemExit(f"{page.name}: GET {path} does not show {missing}")


class BusyPartner:
    """Another connection changing one of the measured partner's cases every 100 ms, as a busy team does:
    reassigning it through the portal's own service (a locked update of the case and a timeline event)."""

    def __init__(self, partner_id: int) -> None:
        self.partner_id = partner_id
        self.changes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BusyPartner:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import random

        from django.db import connection

        from cases import services
        from cases.models import Case, Membership

        rng = random.Random(self.partner_id)  # noqa: S311
        members = list(
            Membership.objects.filter(partner_id=self.partner_id).select_related("partner", "user")
        )
        actor = next(m for m in members if "global_admin" in m.roles)
        ids = list(Case.objects.filter(partner_id=self.partner_id).values_list("pk", flat=True))
        try:
            while not self._stop.wait(BUSY_INTERVAL):
                case = Case.objects.select_related("partner").get(pk=rng.choice(ids))
                services.case_assign(case=case, actor=actor, assignee=rng.choice(members).user)
                self.changes += 1
        finally:
            connection.close()


def _measure(
    port: int,
    generator: load.Generator,
    baseline: Page,
    page: Page,
    busy: BusyPartner | None = None,
    *,
    process_group: int,
):
    """page in ROUNDS short slots, each right after a slot of the baseline: load from anything else on the
    machine then weighs on both sides of the ratio alike. (page, baseline result, page result)."""

    def run(measured: Page, seconds: float) -> load.Result:
        result = generator.run(port, measured.paths, measured.headers, duration=seconds)
        if result.errors:
            raise SystemExit(f"{measured.name}: {result.errors} responses were not 200 (or failed)")
        return result

    slot = generator.duration / ROUNDS
    pings, runs = [], []
    cpu = {baseline.name: [0.0, 0.0], page.name: [0.0, 0.0]}  # server, PostgreSQL

    def timed(measured: Page) -> load.Result:
        before = machine.cpu_seconds(process_group, DATABASE_NAME)
        result = run(measured, slot)
        used = machine.cpu_used(before, machine.cpu_seconds(process_group, DATABASE_NAME))
        for n in (0, 1):
            cpu[measured.name][n] += used[n]
        return result

    for _round in range(ROUNDS):
        pings.append(timed(baseline))
        if page.busy and busy is not None:
            with busy:
                runs.append(timed(page))
        else:
            runs.append(timed(page))
    ping, result = _total(pings), _total(runs)
    page.cpu_ms = tuple(used / max(result.requests, 1) * 1000 for used in cpu[page.name])
    page.ping_cpu_ms = cpu[baseline.name][0] / max(ping.requests, 1) * 1000
    log(
        f"{page.name}: {result.rps:,.0f} requests/s (p95 {result.p95_ms:.0f} ms), "
        f"baseline alongside {ping.rps:,.0f} requests/s; CPU a request {page.cpu_ms[0]:.1f} ms in gunicorn, "
        f"{page.cpu_ms[1]:.1f} ms in PostgreSQL (/ping {page.ping_cpu_ms:.2f} ms)"
    )
    return page, ping, result


def measure_without_cache(
    loaded: data.Loaded, environment: dict[str, str], port: int, generator: load.Generator
) -> list[Row]:
    """The article page with Redis unreachable: no stored rendering, so every request renders its markdown
    (the path a cache miss takes, and what the portal does when Redis is away). Reported, no target."""
    gunicorn = server.start_gunicorn(port, {**environment, "REDIS_URL": "redis://127.0.0.1:1/0"})
    try:
        baseline = Page("minimal view /ping (baseline)", ["/ping"], 0.0, expect=("pong",))
        [article] = [
            page for page in pages_to_measure(loaded, "") if page.name == "guidance article, uncached"
        ]
        article.name = "guidance article, without Redis (rendered each time)"
        _check(port, article)
        generator.run(port, article.paths[-2000:], article.headers, duration=load.WARMUP)
        page, ping, result = _measure(port, generator, baseline, article, process_group=gunicorn.popen.pid)
    except BaseException:
        print(gunicorn.tail(), flush=True)
        raise
    finally:
        gunicorn.stop()
    return [
        Row(
            page.name,
            f"{result.rps:,.0f} req/s",
            f"{result.rps / ping.rps:.2f}",
            f"p95 {result.p95_ms:.0f} ms",
            str(generator.concurrency),
            "report",
        )
    ]


def measure_pages(
    loaded: data.Loaded, environment: dict[str, str], port: int, generator: load.Generator, only: str = ""
):
    gunicorn = server.start_gunicorn(port, environment)
    busy = BusyPartner(loaded.partner_id)
    try:
        cookie = client.sign_in(port, loaded.viewer_email, loaded.viewer_password, loaded.viewer_totp_key)
        baseline = Page("minimal view /ping (baseline)", ["/ping"], 0.0, expect=("pong",))
        pages = [page for page in pages_to_measure(loaded, cookie) if only in page.name]
        log("warming up: a few addresses of each page, then a short load on each")
        for page in [baseline, *pages]:
            _check(port, page)
        for page in [baseline, *pages]:
            generator.run(port, page.paths[-2000:], page.headers, duration=load.WARMUP)

        measured = [
            _measure(port, generator, baseline, page, busy, process_group=gunicorn.popen.pid)
            for page in pages
        ]
        for page in pages:
            _check(port, page, sample=3)  # still signed in, still the same pages
    except BaseException:
        print(gunicorn.tail(), flush=True)
        raise
    finally:
        gunicorn.stop()

    connections = str(generator.concurrency)
    baseline_total = _total([ping for _page, ping, _result in measured])
    spread = f"{min(p.rps for _x, p, _y in measured):,.0f}–{max(p.rps for _x, p, _y in measured):,.0f}"
    rows = [
        Row(
            baseline.name,
            f"{baseline_total.rps:,.0f} req/s",
            "1.00",
            f"p95 {baseline_total.p95_ms:.0f} ms",
            connections,
            f"(per page: {spread})",
        )
    ]
    for page, ping, result in measured:
        ratio = result.rps / ping.rps
        if page.target is None:
            target, outcome = "report", ""
        else:
            passed = ratio >= page.target and result.p95_ms <= P95_TARGET_MS
            target = f"≥ {page.target:.2f}, p95 ≤ {P95_TARGET_MS:.0f} ms"
            outcome = "pass" if passed else "FAIL"
        rows.append(
            Row(
                page.name,
                f"{result.rps:,.0f} req/s",
                f"{ratio:.2f}",
                f"p95 {result.p95_ms:.0f} ms",
                connections,
                target,
                outcome,
            )
        )
    notes = [
        f"Busy partner: {busy.changes} of the measured partner's cases reassigned through "
        f"services.case_assign (every {BUSY_INTERVAL * 1000:.0f} ms) while its case list was measured.",
        f"Every measured request was one no earlier request made ({ADDRESSES:,} addresses per page, each "
        "with a random parameter the portal ignores; sorts, pages, cases and articles picked at random).",
        f"Server: gunicorn, {server.layout()}.",
        "CPU a request, in gunicorn + in PostgreSQL (from /proc, over the measured slices): "
        + f"/ping {sum(page.ping_cpu_ms for page, _p, _r in measured) / len(measured):.2f} ms; "
        + "; ".join(
            f"{page.name} {page.cpu_ms[0]:.1f} + {page.cpu_ms[1]:.1f} ms" for page, _p, _r in measured
        )
        + ".",
    ]
    return rows, notes


def _total(results: list[load.Result]) -> load.Result:
    """The slots of one page together; the p95 is the worst slot's (percentiles do not add up)."""
    requests = sum(r.requests for r in results)
    return load.Result(
        requests=requests,
        seconds=sum(r.seconds for r in results),
        errors=sum(r.errors for r in results),
        bytes_per_response=sum(r.bytes_per_response * r.requests for r in results) / requests
        if requests
        else 0,
        p95_ms=max((r.p95_ms for r in results), default=0.0),
    )


# --- Report -----------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = Row("benchmark", "throughput", "ratio", "p95", "connections", "target", "result")
    fields = ("name", "value", "ratio", "p95", "connections", "target", "result")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in fields]

    def line(r: Row) -> str:
        cells = [getattr(r, f) for f in fields]
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in rows)])


def write_docs(described: dict[str, str], rows: list[Row], notes: list[str], started: str) -> None:
    if not DOCS.exists():
        return
    text = DOCS.read_text()
    if RESULTS_START not in text or RESULTS_END not in text:
        return
    machine_lines = "\n".join(f"| {key} | {value} |" for key, value in described.items())
    block = "\n".join(
        [
            RESULTS_START,
            f"Last run: {started} (`make bench`, written by bench/run.py).",
            "",
            "| machine | |",
            "|---|---|",
            machine_lines,
            "",
            table(rows),
            "",
            *(f"- {note}" for note in notes),
            RESULTS_END,
        ]
    )
    head, rest = text.split(RESULTS_START, 1)
    _old, tail = rest.split(RESULTS_END, 1)
    DOCS.write_text(head + block + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default="pages,pipeline,import", help="comma-separated: pages,pipeline,import"
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="do not write the results into docs/benchmarks.md"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure pages on the data an earlier run left (implies --no-docs)",
    )
    parser.add_argument("--pages", default="", help="only the pages whose names contain this text")
    args = parser.parse_args(argv)
    parts = {part.strip() for part in args.only.split(",") if part.strip()}

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    env.WORK.mkdir(parents=True, exist_ok=True)
    web_port, smtp_port = env.free_port(), env.free_port()
    environment = env.environment(web_port=web_port, smtp_port=smtp_port)
    os.environ.update(environment)
    # BENCH_GENERATOR=python measures with the Python generator even where wrk is installed.
    wrk = None if os.environ.get("BENCH_GENERATOR") == "python" else load.ensure_wrk()
    generator = load.Generator(wrk)
    load_before = machine.load_average()
    log(f"load generator: {generator.name}; load average {load_before}")

    if args.reuse:
        parts &= {"pages"}
        args.no_docs = True
        loaded = reuse(environment, secrets.token_urlsafe(16))
    else:
        loaded = prepare(environment, secrets.token_urlsafe(16))
    described = machine.describe(generator.name)
    rows: list[Row] = []
    notes: list[str] = []

    if "pages" in parts:
        page_rows, page_notes = measure_pages(loaded, environment, web_port, generator, args.pages)
        rows += page_rows
        notes += page_notes
        if args.pages in "guidance article":
            rows += measure_without_cache(loaded, environment, env.free_port(), generator)
    if "pipeline" in parts:
        from bench import pipeline

        log("close the loop: 1,000 resolution e-mails")
        result = pipeline.run(environment, smtp_port, loaded.pipeline_ids, loaded.warmup_ids)
        ratio = result.pipeline_rate / result.baseline_rate
        exactly_once = (
            result.delivered == result.unique == result.sent_rows == result.messages
            and not result.retried_rows
        )
        rows.append(
            Row("plain smtplib, one connection (baseline)", f"{result.baseline_rate:,.0f} msg/s", "1.00")
        )
        rows.append(
            Row(
                "close the loop",
                f"{result.pipeline_rate:,.0f} msg/s",
                f"{ratio:.2f}",
                target="≥ 0.30",
                result="pass" if ratio >= 0.3 and exactly_once else "FAIL",
            )
        )
        notes.append(
            f"Close the loop: Redis, one Celery worker ×{result.concurrency}, SMTP; "
            f"{result.messages:,} messages in {result.pipeline_seconds:.2f} s (queued in "
            f"{result.queued_seconds:.2f} s; smtplib: "
            f"{result.baseline_seconds:.2f} s); the SMTP server received {result.delivered:,} messages with "
            f"{result.unique:,} distinct Message-IDs, {result.sent_rows:,} rows marked sent, "
            f"{result.retried_rows} retried" + ("." if exactly_once else " — NOT exactly once.")
        )
    if "import" in parts:
        from bench import importer

        log("import: 1,000 DocFX files")
        result = importer.run(env.WORK / "import")
        rows.append(
            Row(
                "import_guidance, 1,000 files",
                f"{result.rate:,.0f} files/s",
                target="report",
                result=f"{result.outside_parsing:.0%} outside parsing",
            )
        )
        notes.append(
            f"Import: {result.files:,} files ({result.articles} articles, "
            f"{result.translations:,} translations) in {result.seconds:.1f} s, of which "
            f"{result.parse_seconds:.1f} s in guidance.docfx.parse_file."
        )

    notes.append(f"Load average before the run: {load_before}; after: {machine.load_average()}.")
    print()
    print(table(rows))
    for note in notes:
        print(f"  {note}")
    (env.WORK / "results.json").write_text(
        json.dumps(
            {"started": started, "machine": described, "rows": [r.__dict__ for r in rows], "notes": notes},
            indent=2,
        )
    )
    if not args.no_docs and os.environ.get("BENCH_WRITE_DOCS", "1") != "0":
        write_docs(described, rows, notes, started)
        log(f"results written to {DOCS.relative_to(env.ROOT)}")
    failed = [r.name for r in rows if not r.passed]
    if failed:
        log("targets missed: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
