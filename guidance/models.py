"""Guidance articles, their per-language translation state, and the aligned segments."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorField,
)
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Func, GeneratedField
from django.db.models.functions import Cast, Coalesce, Length, Replace
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from guidance import search
from guidance.search import plain_text


class Cloud(models.TextChoices):
    GLOBAL = "global", _("Partner Center (global, US Government, Germany)")
    VIANET = "21vianet", _("Partner Center operated by 21Vianet")


class TranslationType(models.TextChoices):
    SOURCE = "source", _("English source")
    HUMAN = "human", _("Human translation")
    MACHINE = "machine", _("Machine translation")


ENGLISH = "en"


class ArticleQuerySet(models.QuerySet["Article"]):
    def for_cloud(self, cloud: str) -> ArticleQuerySet:
        return self.filter(cloud=cloud)

    def search(self, query: str, language: str) -> ArticleQuerySet:
        """Articles that match the query in this language or in English, best first (see
        docs/guidance-search.md). On PostgreSQL each row carries search_rank and search_headline (the
        words that matched, between MARK_START and MARK_STOP); SQLite finds every word as a substring."""
        words = search.query_words(query)
        if not words:  # nothing to look for: only spaces, quotes, "or" or exclusions
            return self.none()
        if connections[self.db].vendor != "postgresql":
            return self._containing(words, language)
        return self._full_text(query.casefold(), words, language)

    def _containing(self, words: list[str], language: str) -> ArticleQuerySet:
        qs = self
        for word in words:
            qs = qs.filter(
                models.Q(**{f"search_text_{field_suffix(language)}__contains": word})
                | models.Q(search_text_en__contains=word)
            )
        return qs

    def _full_text(self, query: str, words: list[str], language: str) -> ArticleQuerySet:
        # Every language also finds its articles by their English text, which it shows where it has none.
        english = SearchQuery(query, config="english", search_type="websearch")
        matches = models.Q(search_vector_en=english)
        rank = SearchRank(models.F("search_vector_en"), english)
        headline = _headline(ENGLISH, english)
        suffix = field_suffix(language)
        has_own_text = models.Q(**{f"body_{suffix}__gt": ""})
        if language in search.SUBSTRING_LANGUAGES:
            # Words are not spaced in these languages: each word is looked for anywhere in the text, a LIKE
            # that the trigram index narrows (trigram similarity scores a match inside a run of text 0).
            contains = [models.Q(**{f"search_text_{suffix}__contains": word}) for word in words]
            matches = models.Q(*contains) | matches
            rank = _substring_rank(language, words) + rank
            # No headline where the article is shown in the language: the query's words are its matches.
            headline = models.Case(
                models.When(has_own_text, then=models.Value(None)),
                default=headline,
                output_field=models.TextField(),
            )
        elif language != ENGLISH:
            own = SearchQuery(query, config=search.text_search_config(language), search_type="websearch")
            matches = models.Q(**{f"search_vector_{suffix}": own}) | matches
            rank = SearchRank(models.F(f"search_vector_{suffix}"), own) + rank
            headline = models.Case(models.When(has_own_text, then=_headline(language, own)), default=headline)
        return (
            self.filter(matches)
            .annotate(search_rank=rank, search_headline=headline)
            .order_by("-search_rank", "slug")
        )


class PostgreSQLOnly(Func):
    """An expression only PostgreSQL computes: NULL on any other database (the embedded SQLite)."""

    template = "%(expressions)s"

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor != "postgresql":
            return "NULL", []
        return super().as_sql(compiler, connection, **extra_context)


def search_vector(language: str, **options: Any) -> GeneratedField:
    """A language's text search vector, computed by PostgreSQL whenever the row is written: the title's
    words weighted A, the search text's (which holds the title too) D."""
    config = search.text_search_config(language)
    suffix = field_suffix(language)
    vector = SearchVector(f"title_{suffix}", config=config, weight="A") + SearchVector(
        f"search_text_{suffix}", config=config, weight="D"
    )
    return models.GeneratedField(
        expression=PostgreSQLOnly(vector),
        output_field=SearchVectorField(null=True),
        db_persist=True,
        **options,
    )


def search_indexes(languages: list[tuple[str, str]]) -> list[GinIndex]:
    """The indexes the search uses, per language: a GIN index of the stored text search vector, or for the
    languages searched by substring a GIN trigram index of the search text (which serves LIKE)."""
    indexes = []
    for code, _name in languages:
        suffix = field_suffix(code)
        name = f"guidance_search_{suffix}"
        if code in search.SUBSTRING_LANGUAGES:
            indexes.append(GinIndex(fields=[f"search_text_{suffix}"], opclasses=["gin_trgm_ops"], name=name))
        else:
            indexes.append(GinIndex(fields=[f"search_vector_{suffix}"], name=name))
    return indexes


def _substring_rank(language: str, words: list[str]) -> models.Expression:
    """Per word: 1 when the title holds it, and n / (n + 1) for its n occurrences in the text, so a title
    match outranks any number of matches in the body and more matches outrank fewer."""
    suffix = field_suffix(language)
    text = Coalesce(models.F(f"search_text_{suffix}"), models.Value(""))
    rank: models.Expression = models.Value(0.0)
    for word in words:
        removed = Length(text) - Length(Replace(text, models.Value(word), models.Value("")))
        occurrences = Cast(removed, models.FloatField()) / models.Value(float(len(word)))
        in_title = models.Case(
            models.When(**{f"title_{suffix}__icontains": word}, then=models.Value(1.0)),
            default=models.Value(0.0),
        )
        rank = rank + in_title + occurrences / (occurrences + models.Value(1.0))
    return rank


def _headline(language: str, query: SearchQuery) -> SearchHeadline:
    """The search text with the words that matched between MARK_START and MARK_STOP."""
    return SearchHeadline(
        f"search_text_{field_suffix(language)}",
        query,
        config=search.text_search_config(language),
        start_sel=search.MARK_START,
        stop_sel=search.MARK_STOP,
        max_fragments=3,
        max_words=30,
        min_words=10,
    )


def field_suffix(language: str) -> str:
    """The suffix of a language's translated columns (zh-hant: title_zh_hant)."""
    return language.replace("-", "_")


_LINE_BREAK = re.compile(r"\r\n?")


def lf_line_endings(text: str) -> str:
    """text with every CRLF and lone CR made LF."""
    return _LINE_BREAK.sub("\n", text)


def normalised_text(text: str, *, body: bool = False) -> str:
    """text in the form the importer writes it: LF line endings; a title or description without surrounding
    whitespace; a body with whitespace-only lines empty, no blank lines around it, and one final newline.

    An edit is told from a round trip through a browser (CRLF, a final newline dropped or added) by comparing
    this form. Within a body, spaces at the end of a line are kept: in markdown they are a line break. For
    imported text this form is the text itself, so digests stored before it was introduced still match.
    """
    text = lf_line_endings(text)
    if not body:
        return text.strip()
    text = "\n".join("" if not line.strip() else line for line in text.split("\n")).strip("\n")
    return text + "\n" if text else ""


def validate_body_size(value: str) -> None:
    """Refuse a body larger than import_guidance accepts a file to be (GUIDANCE_MAX_FILE_KB)."""
    limit_kb = settings.GUIDANCE_MAX_FILE_KB
    size = len(value.encode())
    if size > limit_kb * 1024:
        raise ValidationError(
            _("This text is %(size)d KB; the limit is %(limit)d KB."),
            code="too_large",
            params={"size": -(-size // 1024), "limit": limit_kb},
        )


class Article(models.Model):
    """A guidance article for one cloud; its text fields are translated (see guidance/translation.py)."""

    slug = models.SlugField(_("slug"), max_length=200)
    cloud = models.CharField(_("cloud"), max_length=16, choices=Cloud.choices, default=Cloud.GLOBAL)
    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    body = models.TextField(_("body (markdown)"), blank=True, validators=[validate_body_size])
    # Case-folded plain text of the article, so search works for CJK and Cyrillic on any database.
    search_text = models.TextField(editable=False, blank=True, default="", verbose_name=_("search text"))
    # Each language searched word by word (not by substring) has its text search vector stored, so a search
    # reads and ranks it instead of parsing every article's text again; NULL on SQLite.
    search_vector_en = search_vector("en", verbose_name=_("English search vector"))
    search_vector_ru = search_vector("ru", verbose_name=_("Russian search vector"))
    SEARCH_VECTORS = ("search_vector_en", "search_vector_ru")

    asset_id = models.CharField(_("DocFX asset id"), max_length=100, blank=True)
    source_hash = models.CharField(
        _("English revision"),
        max_length=64,
        blank=True,
        help_text=_("ms.openlocfilehash of the English text the portal shows as the source."),
    )
    source_date = models.DateField(_("English revision date"), null=True, blank=True)
    metadata = models.JSONField(_("DocFX metadata"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        verbose_name = _("guidance article")
        verbose_name_plural = _("guidance articles")
        ordering = ["cloud", "slug"]
        constraints = [models.UniqueConstraint(fields=["slug", "cloud"], name="guidance_article_slug_cloud")]
        # A cloud's articles in order: the list page and an article's "More guidance".
        indexes = [
            models.Index(fields=["cloud", "slug"], name="guidance_article_cloud_slug"),
            *search_indexes(settings.LANGUAGES),
        ]

    def __str__(self) -> str:
        return f"{self.slug} ({self.get_cloud_display()})"

    def save(self, *args, **kwargs) -> None:
        self.refresh_search_text()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("guidance:article", kwargs={"cloud": self.cloud, "slug": self.slug})

    def refresh_search_text(self) -> None:
        for code, _name in settings.LANGUAGES:
            suffix = field_suffix(code)
            parts = [getattr(self, f"{name}_{suffix}", "") or "" for name in ("title", "description", "body")]
            setattr(self, f"search_text_{suffix}", plain_text(" ".join(parts)).casefold())

    def content_digest(self, language: str) -> str:
        """A fingerprint of the article's text in one language, to notice edits made since an import; line
        endings and surrounding whitespace do not count (normalised_text)."""
        suffix = field_suffix(language)
        parts = [
            normalised_text(getattr(self, f"{name}_{suffix}") or "", body=name == "body")
            for name in ("title", "description", "body")
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class SegmentState(models.TextChoices):
    CURRENT = "current", _("current")
    OUTDATED = "outdated", _("outdated")
    MISSING = "missing", _("missing")
    # Its English sentence was removed: not counted; the page marks its translation outdated.
    DROPPED = "dropped", _("removed from the English")


class ArticleStatus(models.TextChoices):
    """What a reader is told about a translation as a whole."""

    CURRENT = "current", _("current")
    PARTLY_OUTDATED = "partly-outdated", _("partly outdated")
    OUTDATED = "outdated", _("outdated")
    MISSING = "missing", _("missing")


def _whole_article_outdated() -> models.Q:
    return (
        ~models.Q(source_hash="")
        & ~models.Q(article__source_hash="")
        & ~models.Q(source_hash=models.F("article__source_hash"))
    )


def outdated_condition() -> models.Q:
    """Translations not wholly current (the SQL twin of is_outdated): with segments, one outdated or missing
    segment; without, made from another English revision than the article's."""
    changed = models.Q(segments_outdated__gt=0) | models.Q(segments_missing__gt=0)
    return ~models.Q(translation_type=TranslationType.SOURCE) & (
        (models.Q(has_segments=True) & changed) | (models.Q(has_segments=False) & _whole_article_outdated())
    )


class TranslationQuerySet(models.QuerySet["Translation"]):
    def outdated(self) -> TranslationQuerySet:
        return self.filter(outdated_condition())

    def current(self) -> TranslationQuerySet:
        return self.exclude(outdated_condition())


class Translation(models.Model):
    """What the source said about one language of an article, and what the portal did with it."""

    article = models.ForeignKey(
        Article, on_delete=models.CASCADE, related_name="translations", verbose_name=_("article")
    )
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    translation_type = models.CharField(
        _("translation"), max_length=10, choices=TranslationType.choices, default=TranslationType.HUMAN
    )
    source_hash = models.CharField(
        _("made from English revision"),
        max_length=64,
        blank=True,
        help_text=_("ms.openlocfilehash of the English text this translation was made from."),
    )
    source_path = models.CharField(_("imported from"), max_length=500, blank=True)
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)
    imported_digest = models.CharField(
        max_length=64, blank=True, editable=False, verbose_name=_("digest of the imported text")
    )
    has_segments = models.BooleanField(_("has aligned English"), default=False)
    # A digest of the segments (segments_digest()), written with them: the bilingual page's rendering is
    # stored under it, so a page finds its rendering without reading the segments.
    segments_digest = models.CharField(
        max_length=64, blank=True, editable=False, verbose_name=_("digest of the segments")
    )
    # What the segments as imported were (segments_digest() of their id, English and translation), so that a
    # re-import tells new segments from the stored ones, whose states have moved on since.
    imported_segments_digest = models.CharField(
        max_length=64, blank=True, editable=False, verbose_name=_("digest of the imported segments")
    )
    # How many segments are in each state, written with them, so that no page counts them.
    segments_current = models.PositiveIntegerField(_("current sentences"), default=0)
    segments_outdated = models.PositiveIntegerField(_("outdated sentences"), default=0)
    segments_missing = models.PositiveIntegerField(_("missing sentences"), default=0)
    reviewed = models.BooleanField(_("reviewed"), default=False)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )

    objects = TranslationQuerySet.as_manager()

    class Meta:
        verbose_name = _("translation")
        verbose_name_plural = _("translations")
        ordering = ["article", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "language"], name="guidance_translation_article_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.article.slug} [{self.language}]"

    @property
    def is_source(self) -> bool:
        return self.translation_type == TranslationType.SOURCE

    @property
    def is_machine(self) -> bool:
        return self.translation_type == TranslationType.MACHINE

    @property
    def is_outdated(self) -> bool:
        """Not wholly current: a segment outdated or missing, or (without segments) made from an older
        English revision than the one the portal shows."""
        return self.status in (ArticleStatus.OUTDATED, ArticleStatus.PARTLY_OUTDATED)

    @property
    def segments_total(self) -> int:
        return self.segments_current + self.segments_outdated + self.segments_missing

    @property
    def segments_changed(self) -> int:
        return self.segments_outdated + self.segments_missing

    @property
    def by_sentence(self) -> bool:
        """Whether the state is known sentence by sentence (the translation was imported with spans)."""
        return bool(self.has_segments and self.segments_total)

    @property
    def status(self) -> str:
        """current, partly outdated (some sentences changed), or outdated (every sentence, or the whole
        article where there are no segments)."""
        if self.is_source:
            return ArticleStatus.CURRENT
        if self.by_sentence:
            if not self.segments_changed:
                return ArticleStatus.CURRENT
            if self.segments_current:
                return ArticleStatus.PARTLY_OUTDATED
            return ArticleStatus.OUTDATED
        made_from_older = bool(
            self.source_hash and self.article.source_hash and self.source_hash != self.article.source_hash
        )
        return ArticleStatus.OUTDATED if made_from_older else ArticleStatus.CURRENT

    @property
    def edited_since_import(self) -> bool:
        return bool(self.imported_digest) and self.imported_digest != self.article.content_digest(
            self.language
        )


def segments_digest(rows: list[tuple[str, ...]]) -> str:
    """The digest of a translation's segments (tuples of their fields), in their order."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


# A memory entry whose English is this alike (0-100) to a sentence is suggested for it.
SUGGESTION_SCORE = 75.0


def sentence_key(english: str) -> str:
    """The key of an English sentence in the translation memory: a digest of its words (see
    guidance.segments.normalise), so spacing and markup do not tell two sentences apart."""
    from guidance.segments import normalise

    return hashlib.sha256(normalise(english).encode()).hexdigest()


def target_key(target: str) -> str:
    """The key of a translation in the memory (exact text: one entry per English sentence and wording)."""
    return hashlib.sha256(target.encode()).hexdigest()


def memory_suggestions(
    entries: list[TranslationMemory], english: str, *, limit: int = 5
) -> list[tuple[TranslationMemory, float]]:
    """The entries whose English is at least SUGGESTION_SCORE alike to english (rapidfuzz), best first."""
    from rapidfuzz import fuzz, process

    from guidance.segments import normalise

    found = process.extract(
        normalise(english),
        [normalise(entry.source) for entry in entries],
        scorer=fuzz.ratio,
        score_cutoff=SUGGESTION_SCORE,
        limit=limit,
    )
    return [(entries[index], score) for _text, score, index in found]


class MemoryQuerySet(models.QuerySet["TranslationMemory"]):
    def usable_for(self, translation: Translation) -> MemoryQuerySet:
        """Entries that may fill or be suggested for translation: a machine translation is only offered to a
        human-translated page once a reviewer accepted it."""
        entries = self.filter(language=translation.language)
        if translation.is_machine:
            return entries
        return entries.filter(models.Q(machine=False) | models.Q(reviewed=True))

    def suggestions(self, english: str, *, limit: int = 5) -> list[tuple[TranslationMemory, float]]:
        """Entries whose English is at least SUGGESTION_SCORE alike (rapidfuzz), best first, with the score:
        only offered, never filled in."""
        return memory_suggestions(list(self), english, limit=limit)


class TranslationMemory(models.Model):
    """An English sentence and a translation of it the portal has seen, with where the pair came from."""

    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    source_key = models.CharField(max_length=64, editable=False, verbose_name=_("sentence key"))
    source = models.TextField(_("English"))
    target = models.TextField(_("translation"))
    # A digest of the translation: the unique index holds it, not text of any length.
    target_key = models.CharField(max_length=64, editable=False, verbose_name=_("translation key"))
    origin_path = models.CharField(_("from file"), max_length=500, blank=True)
    origin_revision = models.CharField(_("from English revision"), max_length=64, blank=True)
    origin_article = models.ForeignKey(
        "Article",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from article"),
    )
    machine = models.BooleanField(_("machine translation"), default=False)
    reviewed = models.BooleanField(_("reviewed"), default=False)
    created_at = models.DateTimeField(_("remembered"), auto_now_add=True)

    objects = MemoryQuerySet.as_manager()

    class Meta:
        verbose_name = _("translation memory entry")
        verbose_name_plural = _("translation memory")
        constraints = [
            models.UniqueConstraint(
                fields=["language", "source_key", "target_key"], name="guidance_memory_sentence_target"
            )
        ]
        indexes = [models.Index(fields=["language", "source_key"], name="guidance_memory_lookup")]

    def __str__(self) -> str:
        return f"[{self.language}] {self.source[:60]}"

    def save(self, *args, **kwargs) -> None:
        self.source_key = sentence_key(self.source)
        self.target_key = target_key(self.target)
        super().save(*args, **kwargs)

    @property
    def origin(self) -> str:
        kind = _("machine translation") if self.machine else _("human translation")
        reviewed = _("reviewed") if self.reviewed else _("not reviewed")
        return f"{self.origin_path or '—'} ({self.origin_revision[:8] or '—'}; {kind}, {reviewed})"


class Segment(models.Model):
    """One aligned sentence (or merged group) of a translation and its English source."""

    translation = models.ForeignKey(
        Translation, on_delete=models.CASCADE, related_name="segments", verbose_name=_("translation")
    )
    position = models.PositiveIntegerField(_("position"))
    segment_id = models.CharField(_("segment id"), max_length=32)
    # The English the translation was made from (empty for a missing sentence), and the English now.
    source = models.TextField(_("English source"), blank=True)
    english = models.TextField(_("current English"), blank=True, default="")
    target = models.TextField(_("translation"), blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=SegmentState.choices, default=SegmentState.CURRENT
    )
    # The text that stands for this segment in the body when it is not the translation: the old translation
    # a memory match replaced on the page, or "" where the page inserts it. NULL (not ""): the translation is
    # in the body itself.
    in_body = models.TextField(_("text in the body"), null=True, blank=True)  # noqa: DJ001
    memory = models.ForeignKey(
        TranslationMemory,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("filled from memory"),
    )
    reviewed = models.BooleanField(_("reviewed"), default=False)
    edited = models.BooleanField(_("edited in admin"), default=False)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["translation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["translation", "position"], name="guidance_segment_position")
        ]

    def __str__(self) -> str:
        return self.segment_id
