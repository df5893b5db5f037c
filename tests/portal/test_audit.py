"""The audit trail: each recorded action once, on its partner's chain, with who, where and what changed; the
chains detect an edited, a removed and a cut-off event; pruning keeps them verifiable."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.permissions import Role
from portal import audit
from portal.models import ApiToken, AuditAction, AuditChain, AuditEvent
from tests.cast import force_login_with_code

pytestmark = pytest.mark.django_db

IP = "198.51.100.23"
AGENT = "Mozilla/5.0 (audit test)"


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("pk"))


def only(action: str, **filters) -> AuditEvent:
    found = events(action, **filters)
    assert len(found) == 1, (action, found)
    return found[0]


# --- Each action once --------------------------------------------------------------------------------


def test_sign_in_and_a_failed_sign_in_are_recorded_once_with_address_and_agent(
    client, helpdesk_agent, password
):
    client.post(
        "/en/accounts/login/",
        {"username": helpdesk_agent.user.email.upper(), "password": "wrong"},
        REMOTE_ADDR=IP,
        HTTP_USER_AGENT=AGENT,
    )
    client.post(
        "/en/accounts/login/",
        {"username": helpdesk_agent.user.email, "password": password},
        REMOTE_ADDR=IP,
        HTTP_USER_AGENT=AGENT,
    )
    failed = only(AuditAction.SIGN_IN_FAILED)
    assert (failed.partner, failed.actor_email, failed.address) == (
        helpdesk_agent.partner,
        helpdesk_agent.user.email,
        IP,
    )
    assert failed.after == {"step": "password"}
    signed_in = only(AuditAction.SIGN_IN)
    assert (signed_in.actor, signed_in.partner, signed_in.address, signed_in.user_agent) == (
        helpdesk_agent.user,
        helpdesk_agent.partner,
        IP,
        AGENT,
    )


def test_a_lockout_is_recorded(client, helpdesk_agent, settings):
    for _n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/en/accounts/login/", {"username": helpdesk_agent.user.email, "password": "x"}, REMOTE_ADDR=IP
        )
    assert only(AuditAction.LOCKED_OUT).partner == helpdesk_agent.partner
    assert len(events(AuditAction.SIGN_IN_FAILED)) == settings.AXES_FAILURE_LIMIT


def test_role_changes_invitations_and_deactivations_carry_before_and_after(global_admin, helpdesk_agent):
    services.member_set_roles(actor=global_admin, membership=helpdesk_agent, roles=[Role.BILLING_ADMIN])
    change = only(AuditAction.ROLES_CHANGED)
    assert change.actor == global_admin.user and change.object_repr == str(helpdesk_agent.user)
    assert change.before == {"roles": [Role.HELPDESK_AGENT]} and change.after == {
        "roles": [Role.BILLING_ADMIN]
    }
    services.member_set_active(actor=global_admin, membership=helpdesk_agent, active=False)
    services.member_set_active(actor=global_admin, membership=helpdesk_agent, active=True)
    assert only(AuditAction.MEMBER_DEACTIVATED).after == {"active": False}
    assert only(AuditAction.MEMBER_REACTIVATED).after == {"active": True}
    services.member_invite(
        actor=global_admin, email="new@contoso.example", full_name="New", roles=["sales_agent"]
    )
    assert only(AuditAction.MEMBER_INVITED).object_repr == "new@contoso.example"


def test_a_refused_change_records_nothing(user_admin, global_admin):
    with pytest.raises(Exception):  # noqa: B017 - the refusal itself is tested in test_team_roles
        services.member_set_roles(actor=user_admin, membership=user_admin, roles=[Role.GLOBAL_ADMIN])
    assert not AuditEvent.objects.filter(action=AuditAction.ROLES_CHANGED).exists()


def test_tokens_created_and_revoked_on_the_page_and_by_the_command(client, global_admin):
    force_login_with_code(client, global_admin.user)
    client.post(reverse("api_tokens"), {"name": "PSA"}, REMOTE_ADDR=IP)
    token = ApiToken.objects.get()
    client.post(reverse("api_tokens"), {"revoke": token.pk, "confirm": "1"})
    call_command("create_api_token", global_admin.user.email, "--name", "script", stdout=StringIO())
    created = events(AuditAction.TOKEN_CREATED)
    assert [event.object_repr.split(" ")[0] for event in created] == ["PSA", "script"]
    assert created[0].address == IP and created[1].after == {"by": "create_api_token"}
    assert only(AuditAction.TOKEN_REVOKED).object_id == str(token.pk)


def test_mfa_enrolment_reset_and_recovery_codes(client, user_admin, helpdesk_agent, password):
    from tests.portal.test_mfa import code_for, enrol

    client.force_login(helpdesk_agent.user)
    device, codes = enrol(client)
    assert only(AuditAction.MFA_ENROLLED).actor == helpdesk_agent.user
    client.logout()
    client.post("/en/accounts/login/", {"username": helpdesk_agent.user.email, "password": password})
    client.post(
        "/en/accounts/mfa/verify/", {"code": "000000" if code_for(device, 1) != "000000" else "111111"}
    )
    assert only(AuditAction.SIGN_IN_FAILED).after == {"step": "code"}
    client.post("/en/accounts/mfa/verify/", {"code": codes[0]})
    assert only(AuditAction.MFA_RECOVERY_USED).after == {"left": 9}
    client.post(reverse("mfa_recovery_codes"))
    assert only(AuditAction.MFA_RECOVERY_RENEWED).actor == helpdesk_agent.user
    services.member_reset_mfa(actor=user_admin, membership=helpdesk_agent)
    reset = only(AuditAction.MFA_RESET)
    assert (reset.actor, reset.object_repr) == (user_admin.user, str(helpdesk_agent.user))


def test_subscription_suspension_and_reactivation(billing_admin, subscription):
    services.subscription_suspend(subscription=subscription, actor=billing_admin, reason="Unpaid since May.")
    services.subscription_reactivate(subscription=subscription, actor=billing_admin, reason="Paid.")
    assert only(AuditAction.SUBSCRIPTION_SUSPENDED).after == {
        "status": "suspended",
        "reason": "Unpaid since May.",
    }
    assert only(AuditAction.SUBSCRIPTION_REACTIVATED).partner == billing_admin.partner


def test_an_admin_edit_of_a_partner_names_what_changed(client, staff, contoso):
    client.force_login(staff)
    page = client.get(reverse("admin:cases_partner_change", args=[contoso.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data["support_contact_phone"] = "+81 3 5555 0199"
    for prefix, formset in ((f.formset.prefix, f) for f in page.context["inline_admin_formsets"]):
        management = formset.formset.management_form
        data.update({f"{prefix}-{k}": v for k, v in management.initial.items()})
        for n, inline in enumerate(formset.formset.forms):
            for name in inline.fields:
                value = inline[name].value()
                if isinstance(value, list):
                    data[f"{prefix}-{n}-{name}"] = value
                else:
                    data[f"{prefix}-{n}-{name}"] = "" if value is None else value
    response = client.post(reverse("admin:cases_partner_change", args=[contoso.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    edit = only(AuditAction.PARTNER_EDITED)
    assert edit.partner == contoso and edit.actor == staff
    assert edit.after == {"support_contact_phone": "+81 3 5555 0199"}


# --- The chains ------------------------------------------------------------------------------------------


def chain_of(member, n: int = 3) -> list[AuditEvent]:
    for k in range(n):
        audit.record(AuditAction.TOKEN_CREATED, actor=member.user, after={"k": k})
    return list(AuditEvent.objects.filter(partner=member.partner).order_by("sequence"))


def test_each_partner_has_its_own_chain_linked_by_hash(helpdesk_agent, outsider):
    ours, theirs = chain_of(helpdesk_agent), chain_of(outsider, 2)
    assert [e.sequence for e in ours] == [1, 2, 3] and [e.sequence for e in theirs] == [1, 2]
    assert ours[0].previous_hash == "" and ours[1].previous_hash == ours[0].hash
    assert audit.verify() == []
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "The audit trail holds: 2 chain(s) checked." in out.getvalue()


def test_audit_verify_finds_an_edited_event(helpdesk_agent):
    events_ = chain_of(helpdesk_agent)
    AuditEvent.objects.filter(pk=events_[1].pk).update(actor_email="someone.else@contoso.example")
    breaks = audit.verify()
    assert [(b.sequence, b.reason) for b in breaks] == [(2, "its stored fields were changed")]
    err = StringIO()
    with pytest.raises(CommandError, match="1 break"):
        call_command("audit_verify", stderr=err)
    assert f"partner:{helpdesk_agent.partner_id}: event 2: its stored fields were changed" in err.getvalue()


def test_audit_verify_finds_a_deleted_event_and_a_cut_off_end(helpdesk_agent):
    events_ = chain_of(helpdesk_agent, 4)
    AuditEvent.objects.filter(pk=events_[1].pk).delete()  # QuerySet.delete: what a hand in the database does
    assert [b.sequence for b in audit.verify()] == [3]
    AuditEvent.objects.filter(pk=events_[3].pk).delete()
    reasons = [b.reason for b in audit.verify()]
    assert "the newest event(s) are missing" in reasons


def test_events_are_never_changed_through_the_model(helpdesk_agent):
    event = chain_of(helpdesk_agent, 1)[0]
    event.actor_email = "x@example.com"
    with pytest.raises(ValueError, match="never changed"):
        event.save()
    with pytest.raises(ValueError, match="never deleted"):
        event.delete()


def test_an_event_rolls_back_with_its_change(helpdesk_agent):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(AuditAction.TOKEN_CREATED, actor=helpdesk_agent.user)
        raise RuntimeError
    assert not AuditEvent.objects.exists()
    assert audit.verify() == []


def test_pruning_past_the_retention_keeps_the_chain_verifiable(helpdesk_agent, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old = chain_of(helpdesk_agent, 3)
    AuditEvent.objects.filter(pk__in=[old[0].pk, old[1].pk]).update(
        created_at=timezone.now() - datetime.timedelta(days=40)
    )
    # Moving the dates breaks the hashes of those two, as any edit would; pruning removes exactly them.
    assert audit.prune() == 2
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == [3]
    assert AuditChain.objects.get(key=f"partner:{helpdesk_agent.partner_id}").pruned_to == 2
    assert audit.verify() == []
    audit.record(AuditAction.TOKEN_REVOKED, actor=helpdesk_agent.user)
    assert audit.verify() == []


def test_the_daily_task_prunes_and_is_on_the_beat_schedule(helpdesk_agent, settings):
    from portal.tasks import prune_audit

    settings.AUDIT_RETENTION_DAYS = 1
    chain_of(helpdesk_agent, 2)
    AuditEvent.objects.update(created_at=timezone.now() - datetime.timedelta(days=2))
    assert prune_audit.apply().get() == 2
    assert settings.CELERY_BEAT_SCHEDULE["prune-audit-trail"]["task"] == "portal.tasks.prune_audit"


# --- Reading the trail: page, CSV, API ------------------------------------------------------------------


@pytest.fixture
def two_trails(global_admin, helpdesk_agent, outsider):
    services.member_set_roles(actor=global_admin, membership=helpdesk_agent, roles=[Role.BILLING_ADMIN])
    audit.record(AuditAction.SIGN_IN, actor=helpdesk_agent.user, obj=helpdesk_agent.user)
    audit.record(AuditAction.SIGN_IN, actor=outsider.user, obj=outsider.user)


def test_a_global_admin_reads_and_filters_the_partners_trail(
    client, global_admin, helpdesk_agent, outsider, two_trails
):
    client.force_login(global_admin.user)
    page = client.get(reverse("cases:audit")).content.decode()
    assert 'data-action="roles_changed"' in page and helpdesk_agent.user.email in page
    assert outsider.user.email not in page and outsider.partner.name not in page
    only_roles = client.get(reverse("cases:audit"), {"action": "roles_changed"}).content.decode()
    assert 'data-action="sign_in"' not in only_roles and 'data-action="roles_changed"' in only_roles
    by_who = client.get(reverse("cases:audit"), {"who": "HELPDESK"}).content.decode()
    assert 'data-action="sign_in"' in by_who and 'data-action="roles_changed"' not in by_who
    later = client.get(reverse("cases:audit"), {"since": "2999-01-01"}).content.decode()
    assert "Nothing was recorded that matches these filters." in later
    bad = client.get(reverse("cases:audit"), {"since": "yesterday"})
    assert bad.status_code == 400 and "Enter a valid date." in bad.content.decode()


def test_other_roles_cannot_read_the_trail(client, user_admin, two_trails):
    client.force_login(user_admin.user)
    assert client.get(reverse("cases:audit")).status_code == 403
    assert client.get(reverse("cases:audit_export")).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORTED).exists()


def test_the_csv_export_is_the_filtered_trail_and_is_itself_recorded(
    client, global_admin, helpdesk_agent, outsider, two_trails
):
    import csv

    client.force_login(global_admin.user)
    response = client.get(reverse("cases:audit_export"), {"action": "sign_in"}, REMOTE_ADDR=IP)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-con-')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeffsequence,created_at,actor_email")
    rows = list(csv.DictReader(text.lstrip("\ufeff").splitlines()))
    assert sorted(row["actor_email"] for row in rows) == sorted(  # the sign-in just now and the fixture's
        [global_admin.user.email, helpdesk_agent.user.email]
    )
    assert {row["action"] for row in rows} == {"sign_in"}
    assert outsider.user.email not in text
    export = only(AuditAction.EXPORTED)
    assert export.after == {"filters": {"action": "sign_in"}, "rows": 2} and export.address == IP
    assert audit.verify() == []


def test_the_api_lists_the_partners_trail_for_global_admins_only(
    global_admin, helpdesk_agent, outsider, two_trails
):
    from rest_framework.test import APIClient

    def client_of(member):
        _token, key = ApiToken.issue(user=member.user, name="audit")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return api

    response = client_of(global_admin).get("/api/v1/audit/", {"action": "roles_changed"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    event = body["results"][0]
    assert event["action"] == "roles_changed" and event["after"] == {"roles": [Role.BILLING_ADMIN]}
    assert set(event) >= {"sequence", "created_at", "actor_email", "address", "hash", "previous_hash"}
    everything = client_of(global_admin).get("/api/v1/audit/").json()
    assert outsider.user.email not in str(everything)
    assert client_of(helpdesk_agent).get("/api/v1/audit/").status_code == 403
    bad = client_of(global_admin).get("/api/v1/audit/", {"until": "not-a-date"})
    assert bad.status_code == 400 and "until" in bad.json()["error"]["fields"]
    empty = client_of(global_admin).get("/api/v1/audit/", {"since": ""})
    assert empty.status_code == 400 and "since" in empty.json()["error"]["fields"]
    theirs = client_of(outsider)
    assert theirs.get("/api/v1/audit/").status_code == 403  # Fabrikam's member is no Global admin


def test_the_trail_is_paged_and_the_pages_keep_the_filters(client, global_admin):
    for _n in range(55):
        audit.record(AuditAction.TOKEN_CREATED, actor=global_admin.user)
    client.force_login(global_admin.user)
    first = client.get(reverse("cases:audit"), {"action": "token_created"}).content.decode()
    assert first.count('data-action="token_created"') == 50
    assert 'href="?action=token_created&amp;page=2" rel="next"' in first
    second = client.get(reverse("cases:audit"), {"action": "token_created", "page": 2}).content.decode()
    assert second.count('data-action="token_created"') == 5
    assert 'href="?action=token_created&amp;page=1" rel="prev"' in second
