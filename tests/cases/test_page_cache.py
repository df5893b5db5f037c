"""Partner pages served from the cache (cases/caching.py): never stale after a change, never someone else's.

The case list, the dashboard and the API case list are stored per user and served while the partner's
generation holds; these tests change things the way the portal does and check the next page shows it.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases import caching, services
from cases.models import Membership
from cases.permissions import Role
from portal.models import ApiToken
from tests.cast import open_dispute

pytestmark = pytest.mark.django_db

LIST = "/en/cases/all/"
DASHBOARD = "/en/cases/"
API_LIST = "/api/v1/cases/"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def signed_in(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def served_from_cache(client, url: str):
    """The response, asserting it was a stored page: nothing rendered, no query."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context is None, "the page was rendered, not served from the cache"
    assert len(queries) == 0, [query["sql"] for query in queries]
    return response


def test_the_second_view_of_the_list_is_served_from_the_cache(helpdesk_agent, case) -> None:
    client = signed_in(helpdesk_agent)
    first = client.get(LIST)
    assert first.context is not None and case.number in first.content.decode()
    assert case.number in served_from_cache(client, LIST).content.decode()


def test_a_new_case_shows_on_the_next_list_and_dashboard(helpdesk_agent, customer, case) -> None:
    client = signed_in(helpdesk_agent)
    client.get(LIST), client.get(DASHBOARD)
    created = open_dispute(helpdesk_agent, customer, title="Reservation charged twice")
    assert created.number in client.get(LIST).content.decode()
    assert client.get(DASHBOARD).context["counts"]["open"] == 2


def test_renaming_a_customer_shows_at_once(helpdesk_agent, customer, case) -> None:
    client = signed_in(helpdesk_agent)
    client.get(LIST)
    customer.company_name = "Tailspin Renamed KK"
    customer.save()
    assert "Tailspin Renamed KK" in client.get(LIST).content.decode()


def test_each_user_gets_their_own_page(helpdesk_agent, billing_admin, case) -> None:
    """The header names the user and the actions follow their roles: pages are stored per user."""
    first = signed_in(helpdesk_agent)
    first.get(LIST)
    served_from_cache(first, LIST)
    other = signed_in(billing_admin).get(DASHBOARD)
    assert other.context is not None  # rendered for this user, not the helpdesk agent's copy
    assert billing_admin.user.full_name in other.content.decode()
    assert helpdesk_agent.user.full_name not in other.content.decode()


def test_another_partners_user_never_sees_the_cases(helpdesk_agent, outsider, case) -> None:
    signed_in(helpdesk_agent).get(LIST)
    page = signed_in(outsider).get(LIST)
    assert page.status_code == 200
    assert case.number not in page.content.decode()


def test_a_removed_member_is_refused_not_served_the_stored_page(global_admin, helpdesk_agent, case) -> None:
    client = signed_in(helpdesk_agent)
    client.get(LIST)
    served_from_cache(client, LIST)
    Membership.objects.filter(pk=helpdesk_agent.pk).delete()
    assert client.get(LIST).status_code == 403


def test_a_deactivated_user_is_signed_out_at_once(global_admin, helpdesk_agent, case) -> None:
    client = signed_in(helpdesk_agent)
    client.get(LIST)
    services.member_set_active(actor=global_admin, membership=helpdesk_agent, active=False)
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_role_change_renders_the_page_again(global_admin, sales_agent, case) -> None:
    client = signed_in(sales_agent)
    client.get(DASHBOARD)
    served_from_cache(client, DASHBOARD)
    sales_agent.roles = [Role.USER_ADMIN]
    sales_agent.save()
    assert client.get(DASHBOARD).context is not None


def test_renaming_the_partner_shows_at_once(helpdesk_agent, contoso, case) -> None:
    client = signed_in(helpdesk_agent)
    assert "Billing cases of Contoso." in client.get(DASHBOARD).content.decode()
    contoso.name = "Contoso Europe"
    contoso.save()
    assert "Billing cases of Contoso Europe." in client.get(DASHBOARD).content.decode()


def test_a_password_change_ends_the_other_sessions(helpdesk_agent, case) -> None:
    """The user is cached (portal.auth), but Django's session check still sees the new password."""
    client = signed_in(helpdesk_agent)
    client.get(LIST)
    user = helpdesk_agent.user
    user.set_password("a new and long passphrase")
    user.save()
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def with_message(client: Client, text: str) -> None:
    """Leave a flash message for the client's next page, as a redirect after a form does."""
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(messages.SUCCESS, text)
    response = HttpResponse()
    storage.update(response)
    client.cookies["messages"] = response.cookies["messages"].value


def test_a_page_with_a_message_to_show_is_rendered_with_it(helpdesk_agent, case) -> None:
    client = signed_in(helpdesk_agent)
    client.get(LIST)
    served_from_cache(client, LIST)
    with_message(client, "The case was assigned.")
    page = client.get(LIST)
    assert page.context is not None
    assert "The case was assigned." in page.content.decode()
    assert "The case was assigned." not in served_from_cache(client, LIST).content.decode()


def test_another_session_of_the_user_gets_its_own_csrf_token(helpdesk_agent, case) -> None:
    """A stored page carries the reader's own CSRF token: a form on it posts from the second browser."""
    first = Client(enforce_csrf_checks=True)
    first.force_login(helpdesk_agent.user)
    first_token = TOKEN.search(first.get(LIST).content.decode()).group(1)
    second = Client(enforce_csrf_checks=True)
    second.force_login(helpdesk_agent.user)
    second.get("/en/")  # (signing in saved the user: this reads it into the cache again)
    page = served_from_cache(second, LIST)
    token = TOKEN.search(page.content.decode()).group(1)
    assert token != first_token
    response = second.post("/i18n/setlang/", {"language": "ja", "next": LIST, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_a_change_starts_a_new_generation_now_and_again_after_commit(
    django_capture_on_commit_callbacks, contoso
) -> None:
    """Now, so the writer's next page misses; after commit, so no page rendered from the data before the
    commit (between the two) is served after it."""
    before = caching.generation(contoso.pk)
    with django_capture_on_commit_callbacks(execute=True):
        caching.changed(contoso.pk)
        during = caching.generation(contoso.pk)
    after = caching.generation(contoso.pk)
    assert len({before, during, after}) == 3


def test_an_emptied_cache_never_serves_an_old_page(helpdesk_agent, case) -> None:
    client = signed_in(helpdesk_agent)
    client.get(LIST)
    before = caching.generation(helpdesk_agent.partner_id)
    cache.delete(f"cases:generation:{helpdesk_agent.partner_id}")
    assert caching.generation(helpdesk_agent.partner_id) != before  # random, not counted from 1


def test_the_api_list_is_served_from_the_cache_until_a_case_changes(global_admin, customer, case) -> None:
    _token, key = ApiToken.issue(user=global_admin.user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(API_LIST).json()["count"] == 1
    with CaptureQueriesContext(connection) as queries:
        assert client.get(API_LIST).json()["count"] == 1
    assert len(queries) == 0, [query["sql"] for query in queries]
    open_dispute(global_admin, customer)
    assert client.get(API_LIST).json()["count"] == 2


def test_the_api_refuses_a_revoked_token_even_after_caching_it(global_admin, case) -> None:
    token, key = ApiToken.issue(user=global_admin.user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(API_LIST).status_code == 200
    assert client.get(API_LIST).status_code == 200
    ApiToken.objects.get(pk=token.pk).delete()
    assert client.get(API_LIST).status_code == 401
