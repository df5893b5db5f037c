"""The UI catalogues are complete for every non-English language and match their compiled form."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.translation import to_locale

ROOT = Path(__file__).resolve().parents[2]
LOCALES = [to_locale(code) for code, _name in settings.LANGUAGES if code != "en"]


def catalogue(locale: str) -> polib.POFile:
    return polib.pofile(str(ROOT / "locale" / locale / "LC_MESSAGES" / "django.po"))


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_no_untranslated_or_fuzzy_message(locale: str) -> None:
    """Every message of every non-English catalogue is translated and none is fuzzy."""
    po = catalogue(locale)
    assert len(po) > 0
    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    assert untranslated == [], f"{locale}: untranslated {untranslated}"
    assert fuzzy == [], f"{locale}: fuzzy {fuzzy}"
    assert "fuzzy" not in po.metadata_as_entry().flags


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_matches_its_source(locale: str) -> None:
    """The committed .mo holds exactly the messages of its .po (a stale .mo fails)."""
    po = catalogue(locale)
    mo_path = ROOT / "locale" / locale / "LC_MESSAGES" / "django.mo"
    assert mo_path.exists(), f"{mo_path} is missing: run `make compilemessages`"
    mo = polib.mofile(str(mo_path))

    def messages(entries) -> dict[tuple[str, str, str], object]:
        result = {}
        for entry in entries:
            if entry.obsolete or getattr(entry, "fuzzy", False) or not entry.msgid:
                continue  # msgfmt leaves fuzzy and obsolete entries out of the .mo
            if not (entry.msgstr or entry.msgstr_plural):
                continue
            key = (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")
            result[key] = dict(entry.msgstr_plural) if entry.msgid_plural else entry.msgstr
        return result

    assert messages(mo) == messages(po), f"{mo_path} is older than its .po: run `make compilemessages`"


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_passes_msgfmt_check(locale: str, tmp_path: Path) -> None:
    """msgfmt --check accepts the catalogue (placeholders and plural forms agree)."""
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "gettext (msgfmt) must be installed (see .ci/run)"
    po_path = ROOT / "locale" / locale / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        [msgfmt, "--check", "-o", str(tmp_path / "out.mo"), str(po_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_every_marked_string_is_in_the_catalogues(tmp_path: Path) -> None:
    """Extracting the strings afresh finds nothing the committed catalogues lack, and loses nothing they hold
    (a string of a Jinja2 template that makemessages could not see would be dropped by `make messages`)."""
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", "var", ".git", "test-artifacts", "node_modules", "__pycache__"
        ),
    )
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "ja",
            "--no-obsolete",
            "--ignore=tests/*",
            "--ignore=var/*",
            "--ignore=.venv/*",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "VAR_DIR": str(tmp_path / "var")},
    )
    assert result.returncode == 0, result.stderr
    fresh = {(e.msgctxt or "", e.msgid) for e in polib.pofile(str(copy / "locale/ja/LC_MESSAGES/django.po"))}
    committed = {(e.msgctxt or "", e.msgid) for e in catalogue("ja")}
    missing = sorted(fresh - committed)
    assert missing == [], f"strings marked but not in the catalogues (run `make messages`): {missing}"
    unseen = sorted(committed - fresh)
    assert unseen == [], f"catalogue strings that extraction no longer finds (unused, or unseen): {unseen}"


def _page_forms():
    """Every form class the portal's own pages show (admin keeps Django's translated forms)."""
    import inspect

    from django import forms

    import cases.forms
    import portal.mfa_views
    import portal.views

    for module in (cases.forms, portal.views, portal.mfa_views):
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, forms.BaseForm) and value.__module__ == module.__name__:
                yield value


@pytest.mark.parametrize("form_class", list(_page_forms()), ids=lambda form: form.__name__)
def test_every_label_help_text_and_choice_of_the_pages_forms_is_translatable(form_class) -> None:
    """A label Django derives from a field's name ("Customer" from `customer`) is no message: the catalogue
    test above never sees it, and readers of every other language got it in English."""
    from django import forms
    from django.utils.functional import Promise

    problems = []
    for name, field in form_class.base_fields.items():
        if field.label is not None and not isinstance(field.label, Promise):
            problems.append(f"{name}: label {field.label!r}")
        if field.help_text and not isinstance(field.help_text, Promise):
            problems.append(f"{name}: help text {field.help_text!r}")
        if isinstance(field, forms.ModelChoiceField):
            continue  # its choices are rows (names of customers, people), not messages
        for value, label in getattr(field, "choices", None) or []:
            if value not in ("", None) and str(value) != str(label) and not isinstance(label, Promise):
                problems.append(f"{name}: choice {value!r} labelled {label!r}")
    assert problems == [], f"{form_class.__name__}: {problems}"


def _portal_models():
    """The portal's own models (their history copies take the same names)."""
    from django.apps import apps

    for app in ("cases", "guidance", "portal", "webhooks"):
        for model in apps.get_app_config(app).get_models():
            if not model.__name__.startswith("Historical"):
                yield model


@pytest.mark.parametrize("model", list(_portal_models()), ids=lambda model: model.__name__)
def test_every_model_name_field_name_help_text_and_choice_is_translatable(model) -> None:
    """Django admin, form labels and error messages read the models' names: one Django derives from a class or
    field name ("Case event", "Next case number") stays English for every reader."""
    from django.utils.functional import Promise

    problems = [
        f"Meta.{name} {value!r}"
        for name in ("verbose_name", "verbose_name_plural")
        if not isinstance(value := getattr(model._meta, name), Promise)
    ]
    for field in model._meta.get_fields():
        if not getattr(field, "concrete", False) or field.auto_created:
            continue
        if not isinstance(field.verbose_name, Promise):
            problems.append(f"{field.name}: verbose name {field.verbose_name!r}")
        if field.help_text and not isinstance(field.help_text, Promise):
            problems.append(f"{field.name}: help text {field.help_text!r}")
        for value, label in field.choices or []:
            if str(value) != str(label) and not isinstance(label, Promise):
                problems.append(f"{field.name}: choice {value!r} labelled {label!r}")
    assert problems == [], f"{model.__name__}: {problems}"
