"""Every page at a phone's width (390 px) and a laptop's (1280 px), in all five languages, on the demo data:
no page scrolls sideways at 390 px, the header is one row at 1280 px, and no column heading or case number
breaks inside a word. A screenshot of each page at each width is saved under test-artifacts/ for looking at."""

from __future__ import annotations

import itertools
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Browser, Page

from cases.models import Case, Customer, Notification
from cases.tokens import make_token
from guidance.models import Article
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LANGUAGES = [code for code, _name in settings.LANGUAGES]
DEMO_PASSWORD = "demo-portal-2026"

# What the page measures in the browser: how far it scrolls sideways, where the header's parts sit, and which
# words of column headings and case numbers are cut across two lines.
MEASURE = """() => {
  const doc = document.documentElement;
  const overflowing = [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > doc.clientWidth + 1 && el.getClientRects().length)
    .slice(0, 5)
    .map((el) => el.tagName.toLowerCase() + (el.className ? "." + String(el.className).split(" ")[0] : "")
                 + " «" + (el.textContent || "").trim().slice(0, 30) + "»");
  const header = [".brand", ".main-nav", ".header-tools"]
    .map((selector) => document.querySelector(selector))
    .filter(Boolean)
    .map((el) => el.getBoundingClientRect().top);
  const broken = [];
  for (const el of document.querySelectorAll("th, .case-table__number a, .case-number")) {
    const text = el.textContent;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
        if (lines.size > 1) broken.push(match[0] + " in «" + text.trim().slice(0, 40) + "»");
      }
    }
  }
  return {scroll: doc.scrollWidth, width: doc.clientWidth, overflowing, header, broken};
}"""


@pytest.fixture
def demo(settings, monkeypatch, tmp_path) -> dict[str, str]:
    """make run's data: the seed guidance and the demo partners; the paths of the pages to look at."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DEBUG = True  # seed_demo refuses to run otherwise (known passwords)
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("import_guidance", str(ROOT / "guidance" / "content"), verbosity=0)
    call_command("seed_demo", verbosity=0)
    settings.DEBUG = False
    escalated = Case.objects.filter(partner__name="Contoso", status="escalated").first()
    resolved = Case.objects.filter(partner__name="Contoso", resolved_at__isnull=False).first()
    article = Article.objects.order_by("pk").first()
    customer = Customer.objects.filter(partner__name="Contoso").order_by("pk").first()
    notification = Notification.objects.filter(case__partner__name="Contoso").first()
    pages = {
        "home": "/",
        "guidance": "/guidance/",
        "dashboard": "/cases/",
        "case-list": "/cases/all/",
        "case-list-filtered": "/cases/all/?status=open&sort=severity",
        "case-escalated": f"/cases/{escalated.number}/",
        "case-resolved": f"/cases/{resolved.number}/",
        "new-case": "/cases/new/",
        "customers": "/customers/",
        "customer": f"/customers/{customer.pk}/",
        "team": "/team/",
        "audit": "/team/audit/",
        "webhooks": "/webhooks/",
        "reports": "/reports/",
        "api-tokens": "/accounts/api-tokens/",
        "mfa": "/accounts/mfa/",
        "password-change": "/accounts/password_change/",
    }
    with translation.override("en"):
        pages["article"] = _without_language(article.get_absolute_url())
        if notification is not None:
            pages["customer-answer"] = _without_language(
                reverse("cases:answer", kwargs={"token": make_token(notification)})
            )
    return {name: path for name, path in pages.items() if path}


def _without_language(path: str) -> str:
    return re.sub(r"^/[a-z]{2}(-[a-z]+)?/", "/", path)


ANONYMOUS = ("home", "guidance", "article", "customer-answer")
ANONYMOUS_ONLY = {"login": "/accounts/login/", "password-reset": "/accounts/password_reset/"}


def _sign_in(page: Page) -> None:
    page.goto("/en/accounts/login/")
    page.get_by_label("E-mail address").fill("global.admin@contoso.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.locator("#main").get_by_role("button", name="Sign in").click()
    page.get_by_test_id("signed-in-user").wait_for()


def test_every_page_fits_a_phone_and_a_laptop(
    browser: Browser, live_server, demo: dict[str, str], artifacts_dir
) -> None:
    """One test for all five languages: the demo data is made once (it takes longer than a language's pages)."""
    problems: list[str] = []
    for language, width in itertools.product(LANGUAGES, (390, 1280)):
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        visits = [("anonymous", name, path) for name, path in demo.items() if name in ANONYMOUS]
        visits += [("anonymous", name, path) for name, path in ANONYMOUS_ONLY.items()]
        visits += [("signed-in", name, path) for name, path in demo.items() if name != "customer-answer"]
        signed_in = False
        for who, name, path in visits:
            if who == "signed-in" and not signed_in:
                _sign_in(page)
                signed_in = True
            response = page.goto(f"/{language}{path}")
            where = f"{language} {width}px {who} {name} ({path})"
            if response is None or response.status != 200:
                problems.append(f"{where}: answered {response and response.status}")
                continue
            page.screenshot(
                path=str(artifacts_dir / f"{language}-{width}-{who}-{name}.jpeg"),
                full_page=True,
                type="jpeg",
                quality=70,
            )
            found = page.evaluate(MEASURE)
            if width == 390 and found["scroll"] > found["width"]:
                problems.append(f"{where}: scrolls sideways to {found['scroll']} px: {found['overflowing']}")
            if width == 1280 and max(found["header"]) - min(found["header"]) > 12:
                problems.append(f"{where}: the header takes more than one row (tops {found['header']})")
            if width == 1280 and found["broken"]:
                problems.append(f"{where}: words broken across lines: {found['broken']}")
        context.close()
    assert not problems, "\n".join(problems)
