"""Writes for guidance: importing parsed DocFX articles, and marking translations reviewed."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from guidance.docfx import DocfxError, ParsedArticle, first_heading, slug_problem
from guidance.models import Article, Cloud, Segment, Translation, TranslationType, segments_digest

ENGLISH = "en"


class Action:
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    KEPT = "kept admin edit"


@dataclass(frozen=True)
class LanguageResult:
    slug: str
    cloud: str
    language: str
    action: str
    translation_type: str
    outdated: bool
    path: str


@dataclass
class ImportReport:
    results: list[LanguageResult] = field(default_factory=list)
    articles_created: int = 0
    articles_updated: int = 0
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(r.action in (Action.CREATED, Action.UPDATED) for r in self.results)

    def count(self, action: str, language: str | None = None) -> int:
        return sum(1 for r in self.results if r.action == action and language in (None, r.language))

    @property
    def outdated(self) -> list[LanguageResult]:
        return [r for r in self.results if r.outdated]


@dataclass
class _Version:
    """The text of one language as the import would store it."""

    language: str
    translation_type: str
    source_hash: str
    path: str
    title: str
    description: str
    body: str
    segments: list[tuple[str, str, str]]


def _english_source(documents: Sequence[ParsedArticle]) -> ParsedArticle | None:
    """The file whose English is newest: an English file if given, else the newest file with spans."""
    english_files = [doc for doc in documents if doc.language == ENGLISH]
    if english_files:
        return english_files[-1]
    with_spans = [(index, doc) for index, doc in enumerate(documents) if doc.has_spans]
    if not with_spans:
        return None
    # Undated files count as older than dated ones; among equals the later one given wins.
    return max(with_spans, key=lambda pair: (pair[1].revision_date or datetime.date.min, pair[0]))[1]


def _versions(documents: Sequence[ParsedArticle], english: ParsedArticle | None) -> list[_Version]:
    versions = []
    if english is not None and english.language != ENGLISH:
        versions.append(
            _Version(
                language=ENGLISH,
                translation_type=TranslationType.SOURCE,
                source_hash=english.source_hash or "",
                path=english.path,
                title=english.source_title or first_heading(english.source_body or "") or english.title,
                description=english.source_description or "",
                body=english.source_body or "",
                segments=[],
            )
        )
    for doc in documents:
        is_english = doc.language == ENGLISH
        versions.append(
            _Version(
                language=doc.language,
                translation_type=TranslationType.SOURCE
                if is_english
                else (doc.translation_type or TranslationType.HUMAN),
                source_hash=doc.source_hash or "",
                path=doc.path,
                title=first_heading(doc.body) or doc.title,
                description=doc.description,
                body=doc.body,
                segments=[(s.id, s.source, s.target) for s in doc.segments],
            )
        )
    return versions


def _check_documents(documents: Sequence[ParsedArticle], default_cloud: str) -> dict[tuple[str, str], list]:
    configured = {code for code, _name in settings.LANGUAGES}
    groups: dict[tuple[str, str], list[ParsedArticle]] = defaultdict(list)
    seen: dict[tuple[str, str, str], str] = {}
    for doc in documents:
        if doc.language not in configured:
            raise DocfxError(f"language {doc.language!r} ({doc.locale}) is not configured", path=doc.path)
        # parse_article refuses these already; documents made another way must not store a slug no page
        # address can hold (every list of the cloud would have to leave the article out).
        if (problem := slug_problem(doc.slug)) is not None:
            raise DocfxError(problem, path=doc.path, line=1)
        cloud = doc.cloud or default_cloud
        key = (doc.slug, cloud, doc.language)
        if key in seen:
            raise DocfxError(
                f"a second {doc.language} file for article {doc.slug!r} ({cloud}); the first is {seen[key]}",
                path=doc.path,
            )
        seen[key] = doc.path
        groups[(doc.slug, cloud)].append(doc)
    return groups


def guidance_import(
    *,
    documents: Sequence[ParsedArticle],
    default_cloud: str = Cloud.GLOBAL,
    force: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import parsed articles all-or-nothing; re-importing the same files changes nothing."""
    if default_cloud not in Cloud.values:
        raise ValueError(f"unknown cloud {default_cloud!r}")
    groups = _check_documents(documents, default_cloud)
    report = ImportReport(dry_run=dry_run)
    now = timezone.now()
    with transaction.atomic():
        for (slug, cloud), group in groups.items():
            _import_article(slug, cloud, group, force=force, now=now, report=report)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _import_article(
    slug: str, cloud: str, group: list[ParsedArticle], *, force: bool, now, report: ImportReport
) -> None:
    english = _english_source(group)
    versions = _versions(group, english)
    source_hash = (english.source_hash if english else None) or _newest(group).source_hash or ""
    source_date = english.date if english else None
    metadata = dict((english or _newest(group)).metadata)
    asset_id = next((doc.asset_id for doc in group if doc.asset_id), "") or ""

    article = Article.objects.select_for_update().filter(slug=slug, cloud=cloud).first()
    created = article is None
    if article is None:
        article = Article(slug=slug, cloud=cloud)
    existing = {t.language: t for t in article.translations.all()} if not created else {}

    article_changed = created
    for name, value in (
        ("source_hash", source_hash),
        ("source_date", source_date),
        ("metadata", metadata),
        ("asset_id", asset_id),
    ):
        if getattr(article, name) != value:
            setattr(article, name, value)
            article_changed = True

    pending: list[tuple[_Version, Translation | None, str]] = []
    for version in versions:
        translation = existing.get(version.language)
        action = _plan(article, translation, version, force=force)
        if action in (Action.CREATED, Action.UPDATED):
            _apply_text(article, version)
            article_changed = True
        pending.append((version, translation, action))

    if article_changed:
        article._change_reason = "Imported from DocFX files"
        article.save()
    for version, translation, action in pending:
        if action in (Action.CREATED, Action.UPDATED):
            _save_translation(article, translation, version, now=now)
        report.results.append(
            LanguageResult(
                slug=slug,
                cloud=cloud,
                language=version.language,
                action=action,
                translation_type=version.translation_type,
                outdated=_is_outdated(version, source_hash),
                path=version.path,
            )
        )
    if created:
        report.articles_created += 1
    elif article_changed:
        report.articles_updated += 1


def _newest(group: list[ParsedArticle]) -> ParsedArticle:
    return max(enumerate(group), key=lambda pair: (pair[1].revision_date or datetime.date.min, pair[0]))[1]


def _is_outdated(version: _Version, article_hash: str) -> bool:
    return bool(
        version.translation_type != TranslationType.SOURCE
        and version.source_hash
        and article_hash
        and version.source_hash != article_hash
    )


def _stored_text(article: Article, language: str) -> tuple[str, str, str]:
    suffix = language.replace("-", "_")
    return tuple(getattr(article, f"{name}_{suffix}") or "" for name in ("title", "description", "body"))


def _plan(article: Article, translation: Translation | None, version: _Version, *, force: bool) -> str:
    if translation is None:
        return Action.CREATED
    edited = bool(translation.imported_digest) and (
        translation.imported_digest != article.content_digest(version.language)
    )
    if edited and not force:
        return Action.KEPT
    same_text = _stored_text(article, version.language) == (version.title, version.description, version.body)
    same_state = (
        translation.translation_type == version.translation_type
        and translation.source_hash == version.source_hash
        and translation.source_path == version.path
        and translation.has_segments == bool(version.segments)
    )
    same_segments = (
        list(translation.segments.values_list("segment_id", "source", "target")) == version.segments
    )
    if same_text and same_state and same_segments:
        return Action.UNCHANGED
    return Action.UPDATED


def _apply_text(article: Article, version: _Version) -> None:
    suffix = version.language.replace("-", "_")
    setattr(article, f"title_{suffix}", version.title)
    setattr(article, f"description_{suffix}", version.description)
    setattr(article, f"body_{suffix}", version.body)


def _save_translation(article: Article, translation: Translation | None, version: _Version, *, now) -> None:
    if translation is None:
        translation = Translation(article=article, language=version.language)
    text_changed = translation.imported_digest != article.content_digest(version.language)
    translation.translation_type = version.translation_type
    translation.source_hash = version.source_hash
    translation.source_path = version.path
    translation.has_segments = bool(version.segments)
    translation.segments_digest = segments_digest(
        [(target, source) for _sid, source, target in version.segments]
    )
    translation.imported_at = now
    translation.imported_digest = article.content_digest(version.language)
    if text_changed:
        # New text from the source needs a fresh review.
        translation.reviewed = False
        translation.reviewed_at = None
        translation.reviewed_by = None
    translation.save()
    translation.segments.all().delete()
    Segment.objects.bulk_create(
        Segment(translation=translation, position=index, segment_id=sid, source=source, target=target)
        for index, (sid, source, target) in enumerate(version.segments)
    )


def translations_mark_reviewed(*, translations: Iterable[Translation], user) -> int:
    """Mark these translations reviewed by user now; returns how many were not marked before."""
    ids = [t.pk for t in translations]
    return (
        Translation.objects.filter(pk__in=ids)
        .filter(Q(reviewed=False) | Q(reviewed_by__isnull=True))
        .update(reviewed=True, reviewed_at=timezone.now(), reviewed_by=user)
    )


def translations_mark_unreviewed(*, translations: Iterable[Translation]) -> int:
    """Withdraw the review of these translations; returns how many changed."""
    ids = [t.pk for t in translations]
    return Translation.objects.filter(pk__in=ids).update(reviewed=False, reviewed_at=None, reviewed_by=None)
