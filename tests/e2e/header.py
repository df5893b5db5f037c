"""The header's two menus (templates/base.html): the language and the signed-in user's menu are <details>
that open on a click, as a reader opens them."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def open_user_menu(page: Page) -> None:
    menu = page.locator("details.user-menu")
    if menu.get_attribute("open") is None:
        page.get_by_test_id("signed-in-user").click()
    expect(menu).to_have_attribute("open", "")


def open_in_user_menu(page: Page, name: str) -> None:
    """Follow a link of the user's menu ("Two-step sign-in", "API tokens", "Change password")."""
    open_user_menu(page)
    page.locator("details.user-menu").get_by_role("link", name=name).click()


def sign_out(page: Page, label: str = "Sign out") -> None:
    open_user_menu(page)
    page.locator("details.user-menu").get_by_role("button", name=label).click()


def choose_language(page: Page, name: str) -> None:
    """Switch the page to a language by its own name (日本語, Русский)."""
    menu = page.locator("details.language-menu")
    if menu.get_attribute("open") is None:
        menu.locator("summary").click()
    menu.get_by_role("button", name=name).click()
