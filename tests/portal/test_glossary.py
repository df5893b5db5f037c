"""The UI speaks Partner Center's language: every catalogue entry and every e-mail follows locale/glossary.yaml.

Where an entry's English contains a glossary term, its translation uses one of the term's approved forms and
none of its forbidden ones (Russian forms match whole words on their stems, so кредит* finds кредита but not
аккредитация; Japanese and Chinese forms match as exact substrings). The e-mails are checked as their readers
get them: rendered by the real templates from real rows, in all five languages.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polib
import pytest
import yaml
from django.conf import settings
from django.core import mail
from django.utils import translation
from django.utils.translation import to_locale

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ROOT / "locale" / "glossary.yaml"
LOCALES = [to_locale(code) for code, _name in settings.LANGUAGES if code != "en"]
CJK = {"ja", "zh_Hans", "zh_Hant"}

# What a translation copies unchanged from its msgid, never words to check: placeholders, markup, and the
# addresses an e-mail carries (billing.admin@contoso.example is no "billing").
PLACEHOLDER = re.compile(
    r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sdif]|\{[^{}]*\}|<[^>]*>|https?://\S+|[\w.+-]+@[\w.-]+"
)


class GlossaryError(ValueError):
    """locale/glossary.yaml says something the checker cannot use."""


# --- The glossary --------------------------------------------------------------------------------------


def _form_pattern(form: str, *, whole_words: bool, case: bool) -> re.Pattern[str]:
    """A form as a pattern: whole words for English and Russian (a trailing * is any ending), else exact."""
    if not whole_words:
        if "*" in form:
            raise GlossaryError(f"{form!r}: a Japanese or Chinese form matches exactly; it has no stems (*)")
        return re.compile(re.escape(form))
    words = []
    for word in form.split():
        stem, star = (word[:-1], True) if word.endswith("*") else (word, False)
        if not stem or "*" in stem:
            raise GlossaryError(f"{form!r}: a * may only end a word")
        words.append(re.escape(stem) + (r"\w*" if star else ""))
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", 0 if case else re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    """One term in one language."""

    approved: tuple[str, ...]
    forbidden: tuple[str, ...]
    approved_patterns: tuple[re.Pattern[str], ...]
    forbidden_patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Term:
    id: str
    english: tuple[re.Pattern[str], ...]
    exact: tuple[str, ...]
    en_forbidden: tuple[re.Pattern[str], ...]
    rules: dict[str, Rule]

    def spans(self, english: str) -> list[tuple[int, int]]:
        """Where the term stands in a msgid (with its placeholders already blanked out)."""
        if self.exact:
            text = english.strip()
            return [(0, len(english))] if text in self.exact else []
        return [match.span() for pattern in self.english for match in pattern.finditer(english)]


def load_glossary(path: Path = GLOSSARY) -> list[Term]:
    """The terms of the glossary, checked: every language present, approved forms given, each with a source."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    terms = []
    seen = set()
    for raw in data["terms"]:
        term_id = raw.get("id")
        if not term_id or term_id in seen:
            raise GlossaryError(f"{path.name}: every term needs a unique id ({term_id!r})")
        seen.add(term_id)
        case = bool(raw.get("en_case"))
        exact = bool(raw.get("exact"))
        english = tuple(raw.get("en") or ())
        if not english:
            raise GlossaryError(f"{path.name}: {term_id} has no English form (en)")
        rules = {}
        for locale in LOCALES:
            entry = raw.get(locale)
            if not entry or not entry.get("approved") or not entry.get("source"):
                raise GlossaryError(f"{path.name}: {term_id} needs {locale}: approved forms and a source")
            whole_words = locale not in CJK
            approved = tuple(entry["approved"])
            forbidden = tuple(entry.get("forbidden") or ())
            rule = Rule(
                approved=approved,
                forbidden=forbidden,
                approved_patterns=tuple(
                    _form_pattern(f, whole_words=whole_words, case=False) for f in approved
                ),
                forbidden_patterns=tuple(
                    _form_pattern(f, whole_words=whole_words, case=False) for f in forbidden
                ),
            )
            clash = [f for f in approved if any(p.search(f) for p in rule.forbidden_patterns)]
            if clash:
                raise GlossaryError(f"{path.name}: {term_id} ({locale}) approves what it forbids: {clash}")
            rules[locale] = rule
        terms.append(
            Term(
                id=term_id,
                english=()
                if exact
                else tuple(_form_pattern(f, whole_words=True, case=case) for f in english),
                exact=english if exact else (),
                en_forbidden=tuple(
                    _form_pattern(f, whole_words=True, case=True) for f in raw.get("en_forbidden") or ()
                ),
                rules=rules,
            )
        )
    return terms


def _blank(text: str) -> str:
    return PLACEHOLDER.sub(" ", text)


def terms_in(english: str, terms: Iterable[Term], *, exact: bool = True) -> list[Term]:
    """The terms an English text contains; where a longer term covers a shorter one, only the longer counts."""
    english = _blank(english)
    found = [
        (start, end, term) for term in terms if exact or not term.exact for start, end in term.spans(english)
    ]
    # Longest first; of two as long, the whole-label term ("Escalated", the status) before the word.
    found.sort(key=lambda span: (span[0] - span[1], not span[2].exact))
    taken: list[tuple[int, int]] = []
    result: list[Term] = []
    for start, end, term in found:
        if any(start < other_end and other_start < end for other_start, other_end in taken):
            continue
        taken.append((start, end))
        if term not in result:
            result.append(term)
    return result


def _show(forms: Iterable[str]) -> str:
    return " or ".join(repr(form) for form in forms)


def violation(term: Term, locale: str, translated: str, *, shown: str | None = None) -> str | None:
    """What is wrong with a translation of an English text that holds the term ("found X, expected Y"), or
    None. X is the forbidden forms it uses, else the translation (or `shown`) that lacks every approved form."""
    rule = term.rules[locale]
    text = _blank(translated)
    forbidden = [match.group(0) for pattern in rule.forbidden_patterns for match in pattern.finditer(text)]
    has_approved = any(pattern.search(text) for pattern in rule.approved_patterns)
    if has_approved and not forbidden:
        return None
    missing = shown or f"{translated!r} (no approved form)"
    found = _show(dict.fromkeys(forbidden)) if forbidden else missing
    return f"found {found}, expected {_show(rule.approved)} ({term.id})"


# --- The catalogues ------------------------------------------------------------------------------------


def catalogue_path(locale: str, root: Path = ROOT) -> Path:
    return root / "locale" / locale / "LC_MESSAGES" / "django.po"


def _msgid_lines(path: Path) -> list[int]:
    """The line numbers of the msgid lines (polib's linenum is an entry's first line, its comments)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [number for number, line in enumerate(lines, start=1) if line.startswith("msgid ")]


def check_catalogue(path: Path, locale: str, terms: list[Term]) -> list[str]:
    """Every problem of one catalogue, as `PATH:LINE msgid → found X, expected Y`."""
    po = polib.pofile(str(path))
    msgid_lines = _msgid_lines(path)
    try:
        shown = path.relative_to(ROOT)
    except ValueError:
        shown = path
    problems = []
    for entry in po:
        if entry.obsolete or not entry.msgid:
            continue
        english = "\n".join(filter(None, [entry.msgid, entry.msgid_plural]))
        translated = "\n".join(entry.msgstr_plural.values()) if entry.msgid_plural else entry.msgstr
        if not translated:
            continue  # test_catalogues reports untranslated entries
        line = msgid_lines[bisect.bisect_left(msgid_lines, entry.linenum)]
        for term in terms_in(english, terms):
            problem = violation(term, locale, translated)
            if problem:
                problems.append(f"{shown}:{line} {entry.msgid!r} → {problem}")
    return problems


@pytest.fixture(scope="module")
def glossary() -> list[Term]:
    return load_glossary()


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_follows_the_glossary(locale: str, glossary: list[Term]) -> None:
    """Every entry whose English holds a glossary term uses the approved form, and no forbidden one."""
    problems = check_catalogue(catalogue_path(locale), locale, glossary)
    assert problems == [], f"{len(problems)} entries break locale/glossary.yaml:\n" + "\n".join(problems)


def test_english_msgids_use_no_forbidden_spelling(glossary: list[Term]) -> None:
    """The English source itself spells the terms one way ("Partner Center", never "Partner Centre")."""
    po = polib.pofile(str(catalogue_path("ja")))
    problems = [
        f"{entry.msgid!r} → found {match.group(0)!r} ({term.id})"
        for entry in po
        for term in glossary
        for pattern in term.en_forbidden
        for match in pattern.finditer(_blank(entry.msgid))
    ]
    assert problems == []


# --- The checker itself: it must be able to fail -------------------------------------------------------


def _catalogue_with(tmp_path: Path, locale: str, msgid: str, msgstr: str) -> Path:
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": locale}
    po.append(polib.POEntry(msgid="Sign out", msgstr="—"))
    po.append(polib.POEntry(msgid=msgid, msgstr=msgstr, occurrences=[("cases/models.py", "1")]))
    path = catalogue_path(locale, tmp_path)
    path.parent.mkdir(parents=True)
    po.save(str(path))
    return path


def test_a_forbidden_russian_variant_is_reported_with_its_line(tmp_path: Path, glossary: list[Term]) -> None:
    """A credit note written as "кредит" (a loan) fails, naming the file, the msgid's line and the fix."""
    path = _catalogue_with(tmp_path, "ru", "Credit amount", "Сумма кредита")
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if text == 'msgid "Credit amount"'
    )
    assert check_catalogue(path, "ru", glossary) == [
        f"{path}:{line} 'Credit amount' → found 'кредита', expected 'возмещени*' (credit)"
    ]


def test_a_missing_approved_form_is_reported(tmp_path: Path, glossary: list[Term]) -> None:
    """A translation that drops the term altogether fails too (here zh-Hant's 服務要求)."""
    path = _catalogue_with(tmp_path, "zh_Hant", "Enter the support request number.", "請輸入編號。")
    [problem] = check_catalogue(path, "zh_Hant", glossary)
    assert problem.endswith(
        "→ found '請輸入編號。' (no approved form), expected '服務要求' (support-request)"
    )


@pytest.mark.parametrize(
    ("locale", "msgid", "msgstr", "found"),
    [
        ("zh_Hans", "Escalate", "升级", "'升级'"),
        ("zh_Hant", "Helpdesk agent", "服務台專員", "'服務台專員'"),
        ("ja", "Billing dispute", "請求に関する異議", "'異議'"),
        ("ru", "Collections policy", "Политика взыскания", "'взыскания'"),
        ("ru", "With Microsoft or 21Vianet", "У Майкрософт или 21Vianet", "'Майкрософт'"),
    ],
)
def test_each_forbidden_variant_of_the_issue_is_caught(
    tmp_path: Path, glossary: list[Term], locale: str, msgid: str, msgstr: str, found: str
) -> None:
    """The variants the native review found fail again if someone puts them back."""
    path = _catalogue_with(tmp_path, locale, msgid, msgstr)
    problems = check_catalogue(path, locale, glossary)
    assert any(f"→ found {found}," in problem for problem in problems), problems


def test_a_real_catalogue_fails_when_a_forbidden_variant_is_put_back(
    tmp_path: Path, glossary: list[Term]
) -> None:
    """Put 升级 back into one entry of the committed zh-Hans catalogue: exactly that entry fails."""
    po = polib.pofile(str(catalogue_path("zh_Hans")))
    [entry] = [e for e in po if e.msgid == "Escalate"]
    entry.msgstr = "升级"
    path = catalogue_path("zh_Hans", tmp_path)
    path.parent.mkdir(parents=True)
    po.save(str(path))
    [problem] = check_catalogue(path, "zh_Hans", glossary)
    assert "'Escalate' → found '升级', expected '上报' (escalate)" in problem


def test_russian_matches_whole_words_on_their_stems(glossary: list[Term]) -> None:
    """кредит* finds every case of кредит and nothing that merely contains it."""
    [credit] = [term for term in glossary if term.id == "credit"]
    assert violation(credit, "ru", "Возмещение по аккредитации") is None
    assert violation(credit, "ru", "Возмещение вместо кредитом").startswith("found 'кредитом'")
    assert violation(credit, "ru", "Сумма ВОЗМЕЩЕНИЯ") is None


def test_a_longer_term_covers_the_shorter_one_inside_it(glossary: list[Term]) -> None:
    """The role "Billing admin" is checked as the role (課金管理者), not as "billing" (請求)."""
    ids = [term.id for term in terms_in("Billing admin", glossary)]
    assert ids == ["billing-admin"]
    assert [t.id for t in terms_in("billing contact of the Billing admin", glossary)] == [
        "billing-admin",
        "billing",
    ]


def test_placeholders_are_not_words(glossary: list[Term]) -> None:
    """%(customer)s and {customer} name a value, not the term."""
    assert terms_in("Sent to %(customer)s and {customer}", glossary) == []


def test_statuses_match_only_as_the_whole_label(glossary: list[Term]) -> None:
    """The status is "New" alone; "New password" is no status."""
    assert [t.id for t in terms_in("New", glossary)] == ["status-new"]
    assert terms_in("New password", glossary) == []


def test_a_glossary_without_a_source_is_refused(tmp_path: Path) -> None:
    """A term without a source (or without a language) is an error that names the term."""
    path = tmp_path / "glossary.yaml"
    path.write_text(
        "terms:\n  - id: invoice\n    en: [invoice]\n"
        + "".join(f"    {locale}: {{approved: [x]}}\n" for locale in LOCALES),
        encoding="utf-8",
    )
    with pytest.raises(GlossaryError, match=f"invoice needs {LOCALES[0]}: approved forms and a source"):
        load_glossary(path)


# --- The e-mails, as their readers get them ----------------------------------------------------------

LANGUAGES = [code for code, _name in settings.LANGUAGES]
SUMMARY = "The October invoice counted 5 seats that were cancelled on 2 October."


def _text(message) -> str:
    """Subject, text and HTML of an e-mail as one readable text (tags out, entities decoded)."""
    parts = [message.subject, message.body]
    parts += [re.sub(r"<[^>]+>", " ", html.unescape(body)) for body, _type in message.alternatives]
    return "\n".join(parts)


@pytest.fixture
def emails(contoso, customer, helpdesk_agent, billing_admin, global_admin):
    """Every e-mail the portal sends, as a function of the language: (template, message)."""
    from cases import services
    from cases.emails import build_notification_email, send_invitation
    from cases.models import Answer, Notification, NotificationKind
    from tests.cast import open_dispute

    # The cast is named after its roles ("Global Admin"); in an e-mail a name is data, not the role.
    global_admin.user.full_name = "Gabriela Garcia"
    global_admin.user.save()
    customer.billing_contact_name = "Bea Brown"
    customer.save()
    credit_case = open_dispute(helpdesk_agent, customer, title="Charged for 30 seats, using 25")
    services.case_start(case=credit_case, actor=helpdesk_agent)
    services.case_resolve(
        case=credit_case,
        actor=billing_admin,
        resolution_summary=SUMMARY,
        outcome="credit",
        credit_amount=Decimal("82.50"),
    )
    upheld_case = open_dispute(helpdesk_agent, customer, title="Charge for October")
    services.case_start(case=upheld_case, actor=helpdesk_agent)
    services.case_resolve(case=upheld_case, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld")
    reopened_case = open_dispute(helpdesk_agent, customer, title="Charge for November")
    services.case_start(case=reopened_case, actor=helpdesk_agent)
    services.case_resolve(
        case=reopened_case, actor=billing_admin, resolution_summary=SUMMARY, outcome="upheld"
    )
    # Read afresh: the case objects above are from before the services changed them.
    credit = Notification.objects.get(case=credit_case, kind=NotificationKind.RESOLUTION)
    upheld = Notification.objects.get(case=upheld_case, kind=NotificationKind.RESOLUTION)
    services.notification_mark_failed(notification=upheld, error="550 mailbox unavailable")
    failed = Notification.objects.get(case=upheld_case, kind=NotificationKind.FAILED)
    services.customer_answer(
        notification=Notification.objects.get(case=reopened_case, kind=NotificationKind.RESOLUTION),
        answer=Answer.NOT_RESOLVED,
        comment="Still 30 seats.",
    )
    reopened = Notification.objects.get(case=reopened_case, kind=NotificationKind.REOPENED)

    def render(language: str) -> list[tuple[str, object]]:
        result = []
        for template, notification in [
            ("resolution (credit)", credit),
            ("resolution (upheld)", upheld),
            ("failed", failed),
            ("reopened", reopened),
        ]:
            notification.language = language
            result.append((f"templates/cases/emails/{template}", build_notification_email(notification)))
        mail.outbox = []
        with translation.override(language):
            send_invitation(user=billing_admin.user, partner=contoso, inviter=global_admin.user)
        result.append(("templates/cases/emails/invitation", mail.outbox[-1]))
        return result

    return render


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_emails_follow_the_glossary(language: str, emails, glossary: list[Term]) -> None:
    """Each e-mail, rendered in the reader's language, uses the approved terms wherever its English does."""
    problems = []
    english = {template: _text(message) for template, message in emails("en")}
    for template, message in emails(language):
        text = _text(message)
        for term in glossary:
            problems += [
                f"{template} ({language}) → found {match.group(0)!r} ({term.id})"
                for pattern in term.en_forbidden
                for match in pattern.finditer(text)
            ]
        if language == "en":
            continue
        locale = to_locale(language)
        for term in terms_in(english[template], glossary, exact=False):
            problem = violation(term, locale, text, shown="no approved form")
            if problem:
                problems.append(f"{template} ({language}) → {problem}")
    assert problems == [], "\n".join(problems)


@pytest.mark.django_db
def test_the_russian_resolution_email_speaks_of_a_refund_not_a_loan(emails) -> None:
    """The credit outcome reaches a Russian customer as возмещение (and the e-mail check would see кредит)."""
    [(_template, message)] = [pair for pair in emails("ru") if pair[0].endswith("(credit)")]
    text = _text(message)
    assert "возмещени" in text.lower()
    assert "кредит" not in text.lower()
