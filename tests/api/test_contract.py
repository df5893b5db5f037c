"""The API's contract with partners' tools: JSON errors everywhere, strict input, rate-limit headers,
ETag/If-Match, Location, and the change cursor of a sync (also while cases change)."""

from __future__ import annotations

import ast
import datetime
import random
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from cases import services
from cases.models import Case
from cases.permissions import Role
from portal.api_errors import ERROR_CODES
from tests.api.test_api import API, case_url, error, pdf_upload, start, token_client
from tests.cast import force_login_with_code, open_dispute

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:
    """Uploaded evidence goes to a temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def settled(settings) -> None:
    """A sync reaches up to now: these tests make no change concurrently."""
    settings.API_SYNC_SETTLE_SECONDS = 0


# --- Errors and input ------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-collection/", "/api/v1/cases/CON-99999/", "/api/nothing", "/api/v1/cases/x/"]
)
def test_every_error_under_api_is_json_whatever_debug_says(settings, global_admin, case, debug, path) -> None:
    """Unknown addresses and ids under /api/ answer 404 in the error shape, with DEBUG on or off."""
    settings.DEBUG = debug
    response = token_client(global_admin).get(path)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error(response, 404, "not_found")


def test_a_method_no_route_takes_is_a_json_405(global_admin, case) -> None:
    """DELETE on a case answers 405 method_not_allowed as JSON, with Allow."""
    response = token_client(global_admin).delete(case_url(case))
    error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=1&page=2", "page"),
        ("page=false&page=f", "page"),
        ("status=new&status=closed", "status"),
        ("page=false", "page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page_size=0", "page_size"),
        ("page_size=201", "page_size"),
        ("page_size=ten", "page_size"),
        ("status=", "status"),
        ("category=", "category"),
        ("customer=", "customer"),
        ("escalated=", "escalated"),
        ("ordering=", "ordering"),
        ("ordering=title", "ordering"),
        ("search=", "search"),
        ("search=%20", "search"),
        ("customer=-3", "customer"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=12-", "cursor"),
        ("updated_since=2026-01-01T00:00:00Z&ordering=title", "ordering"),
        ("updated_since=2026-01-01T00:00:00Z&page=false", "page"),
    ],
)
def test_repeated_empty_or_garbage_list_parameters_are_400(global_admin, case, query, field) -> None:
    """A query parameter given twice, empty, or not what the schema says is a 400 naming it."""
    response = token_client(global_admin).get(f"{API}/cases/?{query}")
    assert field in error(response, 400, "invalid")["fields"]


def test_customer_list_pages_are_strict_too(global_admin, customer) -> None:
    """page and page_size are checked on every list, not only the case list."""
    client = token_client(global_admin)
    assert "page" in error(client.get(f"{API}/customers/?page=false"), 400, "invalid")["fields"]
    assert "page_size" in error(client.get(f"{API}/audit/?page_size=0"), 400, "invalid")["fields"]


@pytest.mark.parametrize("amount", ["1,250.50", "-5", "1e3", " 12", "12.", 412.5, "١٢", ""])
def test_amounts_are_plain_decimal_strings(global_admin, customer, amount) -> None:
    """An amount is digits with a decimal point, sent as a string: anything else is a field error."""
    body = {
        "customer": customer.pk,
        "category": "billing_dispute",
        "title": "Seats",
        "description": "Five seats.",
        "disputed_amount": amount,
        "currency": "USD",
    }
    response = token_client(global_admin).post(f"{API}/cases/", body, format="json")
    assert "disputed_amount" in error(response, 400, "invalid")["fields"]


def test_every_workflow_error_code_is_in_the_documented_enum() -> None:
    """Each code a workflow refusal carries is one of the schema's error codes."""
    source = (Path(__file__).resolve().parents[2] / "cases" / "services.py").read_text()
    codes = {
        keyword.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CaseActionError"
        for keyword in node.keywords
        if keyword.arg == "code"
    }
    assert codes and codes <= set(ERROR_CODES), codes - set(ERROR_CODES)


# --- Headers -----------------------------------------------------------------------------------------


def test_every_response_carries_rate_limit_headers(global_admin, case) -> None:
    """200s, 400s and 404s alike say the limit, what is left and when the window ends."""
    client = token_client(global_admin)
    seen = []
    for path in (f"{API}/cases/", f"{API}/cases/?page=0", f"{API}/cases/CON-99999/", case_url(case)):
        response = client.get(path)
        assert int(response["RateLimit-Limit"]) == 600
        assert 0 < int(response["RateLimit-Reset"]) <= 60
        seen.append(int(response["RateLimit-Remaining"]))
    assert seen == sorted(seen, reverse=True) and seen[0] > seen[-1]


def test_rate_limit_headers_are_left_out_when_the_cache_is_down(settings, global_admin, case) -> None:
    """Without Redis the throttle lets requests through and claims no count it could not take."""
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = token_client(global_admin).get(f"{API}/cases/")
    assert response.status_code == 200
    assert "RateLimit-Remaining" not in response


def test_created_objects_have_a_location(global_admin, customer, case) -> None:
    """A 201 says where its object is, and the address answers."""
    client = token_client(global_admin)
    body = {"customer": customer.pk, "category": "billing_question", "title": "Q", "description": "?"}
    created = client.post(f"{API}/cases/", body, format="json")
    assert created.status_code == 201
    assert client.get(created["Location"]).json()["number"] == created.json()["number"]
    upload = client.post(case_url(case, "attachments/"), {"file": pdf_upload()}, format="multipart")
    assert upload.status_code == 201
    assert client.get(upload["Location"]).status_code == 200
    comment = client.post(case_url(case, "comments/"), {"message": "Noted."}, format="json")
    assert comment.status_code == 201 and client.get(comment["Location"]).status_code == 200


# --- ETag and If-Match --------------------------------------------------------------------------------


def test_a_case_carries_an_etag_that_changes_with_it(global_admin, case) -> None:
    """The ETag is the same until the case changes, and every change answers the new one."""
    client = token_client(global_admin)
    first = client.get(case_url(case))["ETag"]
    assert first.startswith('"') and client.get(case_url(case))["ETag"] == first
    started = client.post(case_url(case, "start/"), headers={"If-Match": first})
    assert started.status_code == 200
    assert started["ETag"] != first and client.get(case_url(case))["ETag"] == started["ETag"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", {"support_request_number": "SR-1"}),
        ("post", "start/", None),
        ("post", "comments/", {"message": "Late note."}),
        ("post", "reopen/", {"message": "Again."}),
    ],
    ids=["patch", "start", "comment", "reopen"],
)
def test_a_stale_if_match_is_412_and_changes_nothing(global_admin, case, method, suffix, body) -> None:
    """A change sent with the ETag of an older version is refused with 412 and leaves the case as it was."""
    client = token_client(global_admin)
    stale = client.get(case_url(case))["ETag"]
    services.case_comment(case=case, actor=global_admin, message="Someone else was faster.")
    before = Case.objects.filter(pk=case.pk).values().get()
    events = case.events.count()
    response = getattr(client, method)(
        case_url(case, suffix), body, format="json", headers={"If-Match": stale}
    )
    error(response, 412, "precondition_failed")
    assert Case.objects.filter(pk=case.pk).values().get() == before and case.events.count() == events


@pytest.mark.parametrize(
    ("header", "status"),
    [("*", 200), ("W/{tag}", 412), ('"other", {tag}', 200), ("{bare}", 412), ("garbage", 412), ("", 412)],
    ids=["any", "weak", "one-of-list", "unquoted", "garbage", "empty"],
)
def test_if_match_forms(global_admin, case, header, status) -> None:
    """`*` and a list holding the tag match; a weak tag, or a header naming no tag, is a 412 like a stale one."""
    client = token_client(global_admin)
    tag = client.get(case_url(case))["ETag"]
    value = header.format(tag=tag, bare=tag.strip('"'))
    response = client.post(case_url(case, "start/"), headers={"If-Match": value})
    assert response.status_code == status, response.content
    if status == 412:
        error(response, 412, "precondition_failed")
        assert Case.objects.get(pk=case.pk).status == "new"


# --- Ordering, search and the change cursor ---------------------------------------------------------------


def test_case_list_ordering_and_search(global_admin, customer) -> None:
    """ordering sorts the pages by creation or change; search finds by title or number."""
    client = token_client(global_admin)
    cases = [open_dispute(global_admin, customer, title=f"Seats {n}") for n in range(3)]
    services.case_comment(case=cases[0], actor=global_admin, message="Touched last.")
    numbers = [c.number for c in cases]
    by_created = client.get(f"{API}/cases/?ordering=created_at").json()["results"]
    assert [r["number"] for r in by_created] == numbers
    by_change = client.get(f"{API}/cases/").json()["results"]
    assert by_change[0]["number"] == numbers[0]
    assert [r["number"] for r in client.get(f"{API}/cases/?search=seats 1").json()["results"]] == [numbers[1]]
    assert [r["number"] for r in client.get(f"{API}/cases/", {"search": numbers[2]}).json()["results"]] == [
        numbers[2]
    ]
    assert len(client.get(f"{API}/cases/?page_size=2").json()["results"]) == 2


def _sync(client, url: str) -> tuple[list[dict], str]:
    """Follow a sync from url to its last page: the rows read, and the cursor to go on from."""
    rows: list[dict] = []
    while True:
        page = client.get(url)
        assert page.status_code == 200, page.content
        data = page.json()
        assert data["previous"] is None
        rows += data["results"]
        if data["next"] is None:
            return rows, data["next_cursor"]
        url = data["next"]


def test_a_sync_reads_each_change_once_in_order_and_goes_on_from_its_cursor(
    settled, global_admin, customer
) -> None:
    """Pages by cursor in the order of change; a case changed after it was read comes again, once."""
    client = token_client(global_admin)
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)).isoformat()
    cases = [open_dispute(global_admin, customer) for _ in range(5)]
    first = client.get(f"{API}/cases/", {"updated_since": since, "page_size": 2}).json()
    assert [r["number"] for r in first["results"]] == [c.number for c in cases[:2]]
    services.case_comment(case=cases[0], actor=global_admin, message="Changed mid-sync.")
    rows, cursor = _sync(client, first["next"])
    assert [r["number"] for r in rows] == [c.number for c in cases[2:]] + [cases[0].number]
    assert client.get(f"{API}/cases/", {"cursor": cursor}).json()["results"] == []
    start(cases[3], global_admin)
    later = client.get(f"{API}/cases/", {"cursor": cursor}).json()
    assert [r["number"] for r in later["results"]] == [cases[3].number] and later["next"] is None


def test_a_sync_with_nothing_new_gives_a_cursor_to_go_on_from(settled, global_admin, customer) -> None:
    """A sync that finds nothing still answers where to go on from, and that cursor finds what comes next."""
    client = token_client(global_admin)
    empty = client.get(f"{API}/cases/", {"updated_since": datetime.datetime.now(datetime.UTC).isoformat()})
    assert empty.json()["results"] == [] and empty.json()["next_cursor"]
    case = open_dispute(global_admin, customer)
    found = client.get(f"{API}/cases/", {"cursor": empty.json()["next_cursor"]}).json()["results"]
    assert [r["number"] for r in found] == [case.number]


def test_a_sync_waits_for_the_settle_time(settings, global_admin, customer) -> None:
    """A change younger than API_SYNC_SETTLE_SECONDS comes on a later page, not now."""
    settings.API_SYNC_SETTLE_SECONDS = 60
    case = open_dispute(global_admin, customer)
    since = (case.updated_at - datetime.timedelta(seconds=1)).isoformat()
    assert token_client(global_admin).get(f"{API}/cases/", {"updated_since": since}).json()["results"] == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sync_while_cases_change_skips_and_repeats_nothing(settings, global_admin, customer) -> None:
    """With another process changing cases throughout, a sync ends with every case's last state, each
    version read once."""
    settings.API_SYNC_SETTLE_SECONDS = 0.5
    cases = [open_dispute(global_admin, customer) for _ in range(12)]
    since = (min(c.updated_at for c in cases) - datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stop = threading.Event()
    failures: list[BaseException] = []

    def change() -> None:
        chance = random.Random(16)
        try:
            while not stop.is_set():
                victim = Case.objects.get(pk=chance.choice(cases).pk)
                services.case_comment(case=victim, actor=global_admin, message="Changed during the sync.")
        except BaseException as failure:  # reported by the main thread
            failures.append(failure)
        finally:
            connection.close()

    writer = threading.Thread(target=change)
    client = token_client(global_admin)
    seen: list[tuple[str, str]] = []
    writer.start()
    try:
        rows, cursor = _sync(client, f"{API}/cases/?updated_since={since}&page_size=3")
        seen += [(r["number"], r["updated_at"]) for r in rows]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            rows, cursor = _sync(client, f"{API}/cases/?cursor={cursor}&page_size=3")
            seen += [(r["number"], r["updated_at"]) for r in rows]
    finally:
        stop.set()
        writer.join()
    assert not failures, failures
    time.sleep(settings.API_SYNC_SETTLE_SECONDS + 0.2)
    rows, _cursor = _sync(client, f"{API}/cases/?cursor={cursor}&page_size=3")
    seen += [(r["number"], r["updated_at"]) for r in rows]

    assert len(seen) == len(set(seen)), "a version of a case was read twice"
    last = {number: moment for number, moment in seen}
    final = {r["number"]: r["updated_at"] for r in client.get(f"{API}/cases/?page_size=50").json()["results"]}
    assert last == final, "the sync missed a change"
    assert len(seen) > len(cases), "the writer changed nothing during the sync"


# --- For integrations: members, external references, notes -------------------------------------------


@pytest.mark.parametrize("role", Role.values)
def test_every_role_lists_its_own_organisations_members(cast, outsider, role) -> None:
    """Each role reads its partner's members with ids, names, e-mail and roles; never another partner's."""
    response = token_client(cast[role]).get(f"{API}/members/")
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert {r["email"] for r in rows} == {m.user.email for m in cast.values()}
    mine = next(r for r in rows if r["email"] == cast[role].user.email)
    assert mine == {
        "id": cast[role].user.pk,
        "email": cast[role].user.email,
        "full_name": cast[role].user.full_name,
        "roles": [role],
        "active": True,
    }
    assert outsider.user.email not in {r["email"] for r in rows}


def test_a_member_id_is_what_patch_assigns(global_admin, helpdesk_agent, case) -> None:
    """The id the member list gives is the assignee PATCH takes and the case answers back."""
    client = token_client(global_admin)
    member = next(
        r for r in client.get(f"{API}/members/").json()["results"] if r["email"] == helpdesk_agent.user.email
    )
    patched = client.patch(case_url(case), {"assignee": member["id"]}, format="json")
    assert patched.status_code == 200
    assert patched.json()["assignee"] == {k: member[k] for k in ("id", "email", "full_name")}
    listed = client.get(f"{API}/cases/").json()["results"][0]
    assert listed["assignee"] == patched.json()["assignee"]


def test_external_reference_is_set_unique_and_filterable(
    client, global_admin, customer, outsider, fabrikam_customer
) -> None:
    """A case takes the tool's ticket id on create and PATCH, once per partner, and the list finds it."""
    api = token_client(global_admin)
    body = {"customer": customer.pk, "category": "billing_question", "title": "Q", "description": "?"}
    first = api.post(f"{API}/cases/", {**body, "external_reference": "PSA-4711"}, format="json")
    assert first.status_code == 201 and first.json()["external_reference"] == "PSA-4711"
    again = api.post(f"{API}/cases/", {**body, "external_reference": "PSA-4711"}, format="json")
    assert "external_reference" in error(again, 400, "invalid")["fields"]
    other = api.post(f"{API}/cases/", body, format="json").json()["number"]
    taken = api.patch(f"{API}/cases/{other}/", {"external_reference": "PSA-4711"}, format="json")
    assert "external_reference" in error(taken, 400, "invalid")["fields"]
    moved = api.patch(f"{API}/cases/{other}/", {"external_reference": "PSA-4712"}, format="json")
    assert moved.status_code == 200 and moved.json()["external_reference"] == "PSA-4712"
    found = api.get(f"{API}/cases/", {"external_reference": "PSA-4711"}).json()["results"]
    assert [r["number"] for r in found] == [first.json()["number"]]
    # Another partner's tool may use the same ticket id for its own case.
    fabrikam = token_client(outsider).post(
        f"{API}/cases/",
        {**body, "customer": fabrikam_customer.pk, "external_reference": "PSA-4711"},
        format="json",
    )
    assert fabrikam.status_code == 201
    force_login_with_code(client, global_admin.user)
    page = client.get(Case.objects.get(number=first.json()["number"]).get_absolute_url())
    assert 'data-testid="external-reference">PSA-4711<' in page.content.decode()


def test_notes_are_listed_with_ids_incrementally(settled, global_admin, case) -> None:
    """The notes list gives ids, and `after` the last one read gives only the newer notes, page by page."""
    client = token_client(global_admin)
    for n in range(3):
        services.case_comment(case=case, actor=global_admin, message=f"Note {n}")
    start(case, global_admin)  # not a note
    first = client.get(case_url(case, "comments/"), {"page_size": 2}).json()
    assert [r["message"] for r in first["results"]] == ["Note 0", "Note 1"]
    rest = client.get(first["next"]).json()
    assert [r["message"] for r in rest["results"]] == ["Note 2"] and rest["next"] is None
    last = rest["results"][-1]["id"]
    assert client.get(case_url(case, "comments/"), {"after": last}).json()["results"] == []
    services.case_comment(case=case, actor=global_admin, message="Note 3")
    newer = client.get(case_url(case, "comments/"), {"after": last}).json()["results"]
    assert [r["message"] for r in newer] == ["Note 3"]
    assert "after" in error(client.get(case_url(case, "comments/"), {"after": "x"}), 400, "invalid")["fields"]
