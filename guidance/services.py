"""Writes for guidance: importing parsed DocFX articles, and marking translations reviewed."""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from guidance import segments as sentences
from guidance.docfx import DocfxError, ParsedArticle, first_heading, slug_problem
from guidance.models import (
    Article,
    Cloud,
    Segment,
    SegmentState,
    Translation,
    TranslationMemory,
    TranslationType,
    field_suffix,
    segments_digest,
    sentence_key,
    target_key,
)

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
    by_sentence: bool = False
    current: int = 0
    outdated_segments: int = 0
    missing: int = 0
    filled: int = 0


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
                # The English sentences, which every translation is compared with.
                segments=[(s.id, s.source, s.source) for s in english.segments],
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
    saved = {}
    for version, translation, action in pending:
        if action in (Action.CREATED, Action.UPDATED):
            translation = _save_translation(article, translation, version, now=now)
        if translation is not None:
            saved[version.language] = translation
            if action in (Action.CREATED, Action.UPDATED) and translation.has_segments:
                _remember(article, translation)
    _refresh_states(article, saved)
    for version, _translation, action in pending:
        translation = saved.get(version.language)
        by_sentence = bool(translation and not translation.is_source and translation.by_sentence)
        report.results.append(
            LanguageResult(
                slug=slug,
                cloud=cloud,
                language=version.language,
                action=action,
                translation_type=version.translation_type,
                outdated=bool(translation and translation.is_outdated)
                if translation
                else _is_outdated(version, source_hash),
                path=version.path,
                by_sentence=by_sentence,
                current=translation.segments_current if by_sentence else 0,
                outdated_segments=translation.segments_outdated if by_sentence else 0,
                missing=translation.segments_missing if by_sentence else 0,
                filled=getattr(translation, "filled", 0) if by_sentence else 0,
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
        and translation.has_segments == _has_segments(version)
    )
    same_segments = translation.imported_segments_digest == _imported_digest(version)
    if same_text and same_state and same_segments:
        return Action.UNCHANGED
    return Action.UPDATED


def _apply_text(article: Article, version: _Version) -> None:
    suffix = version.language.replace("-", "_")
    setattr(article, f"title_{suffix}", version.title)
    setattr(article, f"description_{suffix}", version.description)
    setattr(article, f"body_{suffix}", version.body)


def _has_segments(version: _Version) -> bool:
    """Whether a translation has segments of its own (the English's are the sentences it is compared with)."""
    return bool(version.segments) and version.translation_type != TranslationType.SOURCE


def _imported_digest(version: _Version) -> str:
    return segments_digest([list(row) for row in version.segments]) if version.segments else ""


def _save_translation(
    article: Article, translation: Translation | None, version: _Version, *, now
) -> Translation:
    if translation is None:
        translation = Translation(article=article, language=version.language)
    text_changed = translation.imported_digest != article.content_digest(version.language)
    translation.translation_type = version.translation_type
    translation.source_hash = version.source_hash
    translation.source_path = version.path
    translation.has_segments = _has_segments(version)
    translation.imported_segments_digest = _imported_digest(version)
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
        Segment(
            translation=translation,
            position=index,
            segment_id=sid,
            source=source,
            english=source,
            target=target,
            state=SegmentState.CURRENT,
        )
        for index, (sid, source, target) in enumerate(version.segments)
    )
    return translation


# --- Segment states ----------------------------------------------------------------------------------------


def _english_sentences(article: Article, translations: dict[str, Translation]) -> list[sentences.English]:
    english = translations.get(ENGLISH)
    if english is None:
        return []
    rows = english.segments.order_by("position").values_list("segment_id", "english")
    return [sentences.English(sid, text) for sid, text in rows]


@dataclass
class _Row:
    """A segment as stored: its state and texts, what stands for it in the body, and its memory entry."""

    id: str
    state: str
    source: str
    english: str
    target: str
    in_body: str | None = None
    memory_id: int | None = None
    reviewed: bool = False
    edited: bool = False


def _states_without_english(article: Article, stored: list[_Row], translation: Translation) -> list[_Row]:
    """Where the article has no English sentences (an English file without spans): every segment is as
    current as its whole translation, and the new English is not known."""
    made_from_current = not article.source_hash or translation.source_hash == article.source_hash
    return [
        dataclasses.replace(
            row,
            state=SegmentState.CURRENT if made_from_current else SegmentState.OUTDATED,
            english=row.source if made_from_current else "",
        )
        for row in stored
        if row.state != SegmentState.MISSING
    ]


_ROW_FIELDS = (
    "segment_id", "state", "source", "english", "target", "in_body", "memory_id", "reviewed", "edited"
)  # fmt: skip


def _stored_rows(translation: Translation) -> list[_Row]:
    rows = translation.segments.order_by("position").values_list(*_ROW_FIELDS)
    return [_Row(*row) for row in rows]


def _compared(english: list[sentences.English], stored: list[_Row]) -> list[_Row]:
    """The stored segments compared with the English; a segment kept keeps what stands for it in the body."""
    kept = {row.id: row for row in stored if row.state != SegmentState.MISSING}
    old = [sentences.Old(row.id, row.source, row.target) for row in kept.values()]
    rows = []
    for state in sentences.compare(english, old):
        before = kept.get(state.id) if state.state != SegmentState.MISSING else None
        rows.append(
            _Row(
                state.id,
                state.state,
                state.source,
                state.english,
                state.target,
                before.in_body if before else None,
                before.memory_id if before else None,
                # A review stands for the text it accepted: only while the sentence is current.
                bool(before and before.reviewed and state.state == SegmentState.CURRENT),
                bool(before and before.edited),
            )
        )
    return rows


def _fill_from_memory(translation: Translation, rows: list[_Row]) -> None:
    """Fill each outdated or missing segment whose English the memory holds exactly: the page shows the
    remembered translation in place of the old one (or where the missing sentence goes)."""
    wanted = [row for row in rows if row.state in (SegmentState.OUTDATED, SegmentState.MISSING)]
    if not wanted:
        return
    keys = {sentence_key(row.english) for row in wanted}
    entries = (
        TranslationMemory.objects.usable_for(translation)
        .filter(source_key__in=keys)
        .order_by("machine", "-reviewed", "pk")
    )
    best: dict[str, TranslationMemory] = {}
    for entry in entries:
        best.setdefault(entry.source_key, entry)
    for row in wanted:
        entry = best.get(sentence_key(row.english))
        if entry is None:
            continue
        if row.state == SegmentState.OUTDATED:
            row.in_body = row.in_body if row.in_body is not None else row.target
        else:
            row.in_body = ""
        row.state, row.source, row.target, row.memory_id = (
            SegmentState.CURRENT,
            row.english,
            entry.target,
            entry.pk,
        )


def _remember(article: Article, translation: Translation) -> None:
    """Add the translation's (English, translation) pairs to the memory, with where they came from."""
    rows = translation.segments.filter(memory__isnull=True).exclude(target="").exclude(source="")
    entries = [
        TranslationMemory(
            language=translation.language,
            source=source,
            source_key=sentence_key(source),
            target=target,
            target_key=target_key(target),
            origin_path=translation.source_path,
            origin_revision=translation.source_hash,
            origin_article=article,
            machine=translation.is_machine,
            reviewed=translation.reviewed,
        )
        for source, target in rows.values_list("source", "target")
    ]
    TranslationMemory.objects.bulk_create(entries, ignore_conflicts=True)


def _refresh_states(article: Article, translations: dict[str, Translation]) -> None:
    """Compare each translation that has segments with the article's English sentences, fill what the memory
    holds exactly, and store the states (and their counts) where they changed. Each translation's
    `filled` says how many of its segments the memory filled."""
    english = _english_sentences(article, translations)
    for translation in translations.values():
        if translation.is_source or not translation.has_segments:
            continue
        stored = _stored_rows(translation)
        if english:
            rows = _compared(english, stored)
            _fill_from_memory(translation, rows)
        else:
            rows = _states_without_english(article, stored, translation)
        translation.filled = sum(1 for row in rows if row.memory_id and row.state == SegmentState.CURRENT)
        _store_rows(translation, rows, stored=stored)


def _store_rows(translation: Translation, rows: list[_Row], *, stored: list[_Row]) -> None:
    counts = sentences.counts(rows)
    digest = segments_digest([dataclasses.astuple(row) for row in rows])
    unchanged = (
        rows == stored
        and translation.segments_digest == digest
        and (translation.segments_current, translation.segments_outdated, translation.segments_missing)
        == (counts[SegmentState.CURRENT], counts[SegmentState.OUTDATED], counts[SegmentState.MISSING])
    )
    if unchanged:
        return
    translation.segments.all().delete()
    Segment.objects.bulk_create(
        Segment(
            translation=translation,
            position=index,
            segment_id=row.id,
            state=row.state,
            source=row.source,
            english=row.english,
            target=row.target,
            in_body=row.in_body,
            memory_id=row.memory_id,
            reviewed=row.reviewed,
            edited=row.edited,
        )
        for index, row in enumerate(rows)
    )
    _store_summary(translation, rows)


def _store_summary(translation: Translation, rows: list[_Row]) -> None:
    """The translation's counts of sentences by state and the digest its page's rendering is found under,
    from its rows as stored."""
    counts = sentences.counts(rows)
    digest = segments_digest([dataclasses.astuple(row) for row in rows])
    translation.segments_current = counts[SegmentState.CURRENT]
    translation.segments_outdated = counts[SegmentState.OUTDATED]
    translation.segments_missing = counts[SegmentState.MISSING]
    translation.segments_digest = digest
    Translation.objects.filter(pk=translation.pk).update(
        segments_current=translation.segments_current,
        segments_outdated=translation.segments_outdated,
        segments_missing=translation.segments_missing,
        segments_digest=digest,
    )


def article_english_edited(*, article: Article, old_body: str, minor: bool = False) -> bool:
    """After an edit of the article's English body (old_body before it): follow the English sentences into
    the new body and compare every translation with them again. A minor edit (a typo, formatting) moves the
    translations of the sentences that were current onto their new English, so that they stay current.
    Returns whether the article has English sentences to compare with."""
    with transaction.atomic():
        translations = {t.language: t for t in article.translations.select_for_update()}
        english = translations.get(ENGLISH)
        before = _english_sentences(article, translations)
        if english is None or not before:
            return False
        after = sentences.english_after_edit(old_body, article.body_en or "", before)
        if minor:
            _keep_current(translations, before, after)
        _store_rows(
            english,
            [_Row(e.id, SegmentState.CURRENT, e.text, e.text, e.text) for e in after],
            stored=_stored_rows(english),
        )
        _refresh_states(article, translations)
        for translation in translations.values():
            if translation.has_segments and not translation.is_source:
                _remember(article, translation)
    return True


def _keep_current(
    translations: dict[str, Translation], before: list[sentences.English], after: list[sentences.English]
) -> None:
    """Make the current segments of every translation be made from the new text of their English sentence."""
    new_text = {e.id: e.text for e in after}
    moved = {
        sentences.normalise(e.text): new_text[e.id]
        for e in before
        if e.id in new_text and new_text[e.id] != e.text
    }
    if not moved:
        return
    for translation in translations.values():
        if translation.is_source or not translation.has_segments:
            continue
        for segment in translation.segments.filter(state=SegmentState.CURRENT):
            english = moved.get(sentences.normalise(segment.source))
            if english is not None:
                segment.source = english
                segment.english = english
                segment.save(update_fields=["source", "english"])


# --- Editing one segment ----------------------------------------------------------------------------------

# Languages written without spaces between sentences.
_UNSPACED = ("ja", "zh-hans", "zh-hant")


def _in_body(segment: Segment) -> str:
    return segment.target if segment.in_body is None else segment.in_body


def segment_places(body: str, segments: Sequence[Segment]) -> dict[int, tuple[int, int]]:
    """Where each segment's text stands in body (start, end), found in order as a page finds them; a segment
    not found there (or shown where the page inserts it) has no place."""
    places: dict[int, tuple[int, int]] = {}
    cursor = 0
    for segment in segments:
        text = _in_body(segment)
        if segment.state == SegmentState.MISSING or not text.strip():
            continue
        found = body.find(text, cursor)
        if found < 0:
            continue
        places[segment.pk] = (found, found + len(text))
        cursor = found + len(text)
    return places


def segment_edit(*, segment: Segment, target: str, user=None) -> Segment:
    """Write a segment's translation into the body (in place of its old one, or after the segment before it)
    and make the segment current, made from the current English. The body then counts as edited in admin,
    so a re-import keeps it unless --force."""
    target = target.strip()
    if not target:
        raise ValueError("a segment's translation cannot be empty")
    with transaction.atomic():
        translation = (
            Translation.objects.select_for_update().select_related("article").get(pk=segment.translation_id)
        )
        article = translation.article
        segments = list(translation.segments.order_by("position"))
        segment = next(s for s in segments if s.pk == segment.pk)
        if segment.state == SegmentState.DROPPED:
            raise ValueError("the English of this segment was removed: edit the body instead")
        name = f"body_{field_suffix(translation.language)}"
        body = getattr(article, name) or ""
        places = segment_places(body, segments)
        if segment.pk in places:
            start, end = places[segment.pk]
        else:
            before = [places[s.pk][1] for s in segments[: segments.index(segment)] if s.pk in places]
            start = end = before[-1] if before else len(body.rstrip("\n"))
            if translation.language not in _UNSPACED:
                target = " " + target
        setattr(article, name, body[:start] + target + body[end:])
        article._change_reason = f"Segment {segment.segment_id} ({translation.language}) edited"
        article.save()
        segment.target = target.strip()
        segment.source = segment.english
        segment.state = SegmentState.CURRENT
        segment.in_body = None
        segment.memory = None
        segment.edited = True
        segment.reviewed = False
        segment.save()
        # The counts and the digest follow the saved segment; the other rows (and their ids) stay.
        _store_summary(translation, _stored_rows(translation))
        _remember(article, translation)
    return segment


def segment_mark_reviewed(*, segment: Segment, reviewed: bool = True) -> None:
    """Accept (or withdraw the review of) one segment's translation."""
    Segment.objects.filter(pk=segment.pk).update(reviewed=reviewed)


def segments_lost(*, translation: Translation, body: str) -> list[Segment]:
    """The segments of a translation whose text a free edit of its body removed (the others keep their
    states: a page finds them as before)."""
    segments = list(translation.segments.order_by("position"))
    places = segment_places(body, segments)
    return [
        s
        for s in segments
        if s.pk not in places and s.state != SegmentState.MISSING and _in_body(s).strip() and s.in_body != ""
    ]


def translations_mark_reviewed(*, translations: Iterable[Translation], user) -> int:
    """Mark these translations reviewed by user now; returns how many were not marked before."""
    ids = [t.pk for t in translations]
    with transaction.atomic():
        marked = (
            Translation.objects.filter(pk__in=ids)
            .filter(Q(reviewed=False) | Q(reviewed_by__isnull=True))
            .update(reviewed=True, reviewed_at=timezone.now(), reviewed_by=user)
        )
        # What a reviewer accepted may be offered to human-translated pages (TranslationMemory.usable_for).
        for article_id, language in Translation.objects.filter(pk__in=ids).values_list(
            "article_id", "language"
        ):
            TranslationMemory.objects.filter(origin_article_id=article_id, language=language).update(
                reviewed=True
            )
    return marked


def translations_mark_unreviewed(*, translations: Iterable[Translation]) -> int:
    """Withdraw the review of these translations; returns how many changed."""
    ids = [t.pk for t in translations]
    return Translation.objects.filter(pk__in=ids).update(reviewed=False, reviewed_at=None, reviewed_by=None)
