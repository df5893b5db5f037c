"""Django admin for guidance: tabbed translation editing, translation status, review, history."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation as i18n
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from modeltranslation.admin import TabbedDjangoJqueryTranslationAdmin
from simple_history.admin import SimpleHistoryAdmin

from guidance.forms import ArticleAdminForm, TextareaField
from guidance.models import (
    Article,
    ArticleStatus,
    Segment,
    SegmentState,
    Translation,
    TranslationMemory,
    TranslationType,
    field_suffix,
    memory_suggestions,
    normalised_text,
    outdated_condition,
)
from guidance.reading import linkable
from guidance.services import (
    article_english_edited,
    segment_edit,
    segment_mark_reviewed,
    segments_lost,
    translations_mark_reviewed,
    translations_mark_unreviewed,
)
from portal.admin import LabelledTabularInline

MINOR_CHANGE_REASON = "Minor English change (typo or formatting): translations kept current"

STATUS_CHOICES = (
    ("missing", _("missing")),
    ("machine", _("machine translated")),
    ("outdated", _("outdated")),
    ("unreviewed", _("not reviewed")),
    ("reviewed", _("reviewed")),
)


def _status_condition(status: str) -> Q:
    """The condition on Translation rows that a status stands for."""
    return {
        "machine": Q(translation_type=TranslationType.MACHINE),
        "outdated": outdated_condition(),
        "unreviewed": Q(reviewed=False),
        "reviewed": Q(reviewed=True),
    }[status]


class LanguageFilter(admin.SimpleListFilter):
    title = _("language")
    parameter_name = "language"

    def lookups(self, request, model_admin):
        return settings.LANGUAGES

    def queryset(self, request, queryset):
        # Alone it keeps articles that have this language; with a status it scopes that status.
        if self.value() and not request.GET.get(TranslationStatusFilter.parameter_name):
            return queryset.filter(translations__language=self.value())
        return queryset


class TranslationStatusFilter(admin.SimpleListFilter):
    title = _("translation status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return STATUS_CHOICES

    def queryset(self, request, queryset):
        status = self.value()
        if not status:
            return queryset
        language = request.GET.get(LanguageFilter.parameter_name)
        translations = Translation.objects.filter(article=OuterRef("pk"))
        if language:
            translations = translations.filter(language=language)
        if status == "missing":
            if language:
                return queryset.exclude(Exists(translations))
            return queryset.annotate(_languages=Count("translations", distinct=True)).filter(
                _languages__lt=len(settings.LANGUAGES)
            )
        if status == "reviewed" and not language:
            # Every translation reviewed, not just one.
            return queryset.filter(Exists(translations)).exclude(
                Exists(translations.filter(_status_condition("unreviewed")))
            )
        return queryset.filter(Exists(translations.filter(_status_condition(status))))


class TranslationInline(LabelledTabularInline):
    model = Translation
    extra = 0
    can_delete = False
    fields = (
        "language",
        "translation_type",
        "outdated",
        "source_hash",
        "imported_at",
        "reviewed",
        "reviewed_by",
    )
    readonly_fields = (
        "language",
        "translation_type",
        "outdated",
        "source_hash",
        "imported_at",
        "reviewed_by",
    )
    ordering = ("language",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def row_label(self, obj: Translation) -> str:
        return obj.get_language_display()  # "Reviewed: Japanese"

    @admin.display(boolean=True, description=_("outdated"))
    def outdated(self, obj: Translation) -> bool:
        return obj.is_outdated


@admin.register(Article)
class ArticleAdmin(SimpleHistoryAdmin, TabbedDjangoJqueryTranslationAdmin):
    list_display = ("title", "slug", "cloud", "languages", "updated_at")
    list_filter = ("cloud", LanguageFilter, TranslationStatusFilter)
    search_fields = ("slug", *(f"title_{code.replace('-', '_')}" for code, _name in settings.LANGUAGES))
    readonly_fields = ("source_hash", "source_date", "asset_id", "metadata", "created_at", "updated_at")
    form = ArticleAdminForm
    fieldsets = (
        (None, {"fields": ("slug", "cloud", "title", "description", "body", "minor_change")}),
        (
            _("DocFX source"),
            {
                "classes": ("collapse",),
                "fields": ("source_hash", "source_date", "asset_id", "metadata", "created_at", "updated_at"),
            },
        ),
    )
    inlines = (TranslationInline,)
    actions = ("mark_reviewed",)
    history_list_display = ("changed_languages",)
    # Every language's description and body (each a translated TextField).
    formfield_overrides = {models.TextField: {"form_class": TextareaField}}

    class Media:
        # The language tabs as one control each: after jQuery UI (as modeltranslation loads it), before the
        # page is ready. Listed after what it needs, so that Django's merge of the media keeps that order.
        js = (
            "admin/js/jquery.init.js",
            "modeltranslation/js/force_jquery.js",
            settings.JQUERY_UI_URL,
            "guidance/admin.js",
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Article]:
        return super().get_queryset(request).prefetch_related("translations")

    @admin.display(description=_("languages"))
    def languages(self, obj: Article) -> str:
        translations = {t.language: t for t in obj.translations.all()}
        items = []
        for code, _name in settings.LANGUAGES:
            t = translations.get(code)
            if t is None:
                state, label = "missing", _("missing")
            elif t.status == ArticleStatus.PARTLY_OUTDATED:
                state, label = "outdated", _("partly outdated")
            elif t.is_outdated:
                state, label = "outdated", _("outdated")
            elif t.is_machine:
                state, label = "machine", _("machine translated")
            elif t.reviewed:
                state, label = "reviewed", _("reviewed")
            else:
                state, label = "current", t.get_translation_type_display()
            items.append((state, label, code))
        return format_html_join(" ", '<span class="lang-status lang-status--{}" title="{}">{}</span>', items)

    @admin.display(description=_("languages changed"))
    def changed_languages(self, obj) -> str:
        previous = obj.prev_record
        if previous is None:
            return _("created")
        delta = obj.diff_against(previous)
        return ", ".join(sorted(change.field for change in delta.changes)) or "—"

    def view_on_site(self, obj: Article) -> str | None:
        # An article stored with a bad slug still opens here, so that the slug can be corrected.
        return obj.get_absolute_url() if linkable(obj.pk, obj.slug) else None

    @admin.action(description=_("Mark all translations of the selected articles reviewed"))
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        _review(self, request, Translation.objects.filter(article__in=queryset))

    def save_model(self, request, obj, form, change) -> None:
        if change:
            _warn_lost_segments(request, obj, form)
        old_body = (
            Article.objects.filter(pk=obj.pk).values_list("body_en", flat=True).first() if change else None
        )
        english_edited = old_body is not None and normalised_text(old_body, body=True) != normalised_text(
            obj.body_en or "", body=True
        )
        minor = english_edited and form.cleaned_data.get("minor_change", False)
        if minor:
            obj._change_reason = MINOR_CHANGE_REASON
        super().save_model(request, obj, form, change)
        if english_edited:
            # The translations are compared with the edited English sentence by sentence.
            article_english_edited(article=obj, old_body=old_body, minor=minor)

    def save_formset(self, request, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        toggled = [f.instance for f in formset.forms if "reviewed" in f.changed_data]
        _record_review(toggled, request.user)


def _warn_lost_segments(request: HttpRequest, article: Article, form) -> None:
    """Say which sentences a free edit of a translated body removed; the others keep their states."""
    for translation in article.translations.filter(has_segments=True):
        name = f"body_{field_suffix(translation.language)}"
        if name not in form.changed_data:
            continue
        lost = segments_lost(translation=translation, body=getattr(article, name) or "")
        if lost:
            messages.warning(
                request,
                ngettext(
                    "%(language)s: %(count)d sentence is no longer in the body, so its state was lost: "
                    "%(ids)s.",
                    "%(language)s: %(count)d sentences are no longer in the body, so their states were lost: "
                    "%(ids)s.",
                    len(lost),
                )
                % {
                    "language": translation.get_language_display(),
                    "count": len(lost),
                    "ids": ", ".join(s.segment_id for s in lost),
                },
            )


class OutdatedFilter(admin.SimpleListFilter):
    title = _("outdated")
    parameter_name = "outdated"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.outdated()
        if self.value() == "no":
            return queryset.current()
        return queryset


@admin.register(Translation)
class TranslationAdmin(admin.ModelAdmin):
    list_display = (
        "article",
        "language",
        "translation_type",
        "outdated",
        "reviewed",
        "imported_at",
        "edit_text",
        "sentences",
    )
    list_filter = ("language", "translation_type", OutdatedFilter, "reviewed", "article__cloud")
    list_select_related = ("article",)
    search_fields = ("article__slug",)
    readonly_fields = (
        "article",
        "language",
        "translation_type",
        "source_hash",
        "source_path",
        "imported_at",
        "has_segments",
        "reviewed_at",
        "reviewed_by",
    )
    fields = (*readonly_fields[:7], "reviewed", "reviewed_at", "reviewed_by")
    actions = ("mark_reviewed",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description=_("outdated"))
    def outdated(self, obj: Translation) -> bool:
        return obj.is_outdated

    @admin.display(description=_("sentences"))
    def sentences(self, obj: Translation) -> str:
        if not obj.has_segments:
            return "—"
        url = reverse("admin:guidance_translation_segments", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a>',
            url,
            _("%(current)d current, %(outdated)d outdated, %(missing)d missing")
            % {
                "current": obj.segments_current,
                "outdated": obj.segments_outdated,
                "missing": obj.segments_missing,
            },
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.segments_view)
        return [path("<int:pk>/segments/", view, name="guidance_translation_segments"), *super().get_urls()]

    def segments_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Per segment: the old and new English, the translation, memory suggestions, review and edit."""
        translation = get_object_or_404(Translation.objects.select_related("article"), pk=pk)
        if not self.has_change_permission(request, translation) or not translation.has_segments:
            raise Http404
        if request.method == "POST":
            return _segment_post(self, request, translation)
        entries = list(TranslationMemory.objects.usable_for(translation))
        rows = []
        for segment in translation.segments.select_related("memory").order_by("position"):
            changed = segment.state in (SegmentState.OUTDATED, SegmentState.MISSING)
            rows.append(
                {
                    "segment": segment,
                    "difference": _difference(segment.source, segment.english) if changed else "",
                    "suggestions": [
                        {"entry": entry, "score": round(score)}
                        for entry, score in memory_suggestions(entries, segment.english, limit=3)
                        if entry.target != segment.target
                    ]
                    if changed
                    else [],
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Sentences of %(translation)s") % {"translation": translation},
            "translation": translation,
            "rows": rows,
            "opts": self.model._meta,
            "page_url": self.view_on_site(translation),
        }
        return TemplateResponse(request, "admin/guidance/translation/segments.html", context)

    @admin.display(description=_("text"))
    def edit_text(self, obj: Translation) -> str:
        url = reverse("admin:guidance_article_change", args=[obj.article_id])
        return format_html('<a href="{}">{}</a>', url, _("Edit the article"))

    def view_on_site(self, obj: Translation) -> str | None:
        if not linkable(obj.article_id, obj.article.slug):
            return None
        with i18n.override(obj.language):
            return obj.article.get_absolute_url()

    @admin.action(description=_("Mark the selected translations reviewed"))
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Translation]) -> None:
        _review(self, request, queryset)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if "reviewed" in form.changed_data:
            _record_review([obj], request.user)


def _difference(old: str, new: str) -> str:
    """The new English with the words the old lacked in <ins> and the words it dropped in <del>."""
    import difflib

    old_words, new_words = old.split(), new.split()
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_words, new_words).get_opcodes():
        if tag == "equal":
            parts.append(format_html("{}", " ".join(new_words[j1:j2])))
            continue
        if i2 > i1:
            parts.append(format_html("<del>{}</del>", " ".join(old_words[i1:i2])))
        if j2 > j1:
            parts.append(format_html("<ins>{}</ins>", " ".join(new_words[j1:j2])))
    return format_html_join(" ", "{}", ((part,) for part in parts))


def _segment_post(model_admin, request: HttpRequest, translation: Translation) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=request.POST.get("segment", ""), translation=translation)
    url = reverse("admin:guidance_translation_segments", args=[translation.pk]) + f"#segment-{segment.pk}"
    if request.POST.get("action") == "review":
        segment_mark_reviewed(segment=segment)
        model_admin.message_user(request, _("Sentence %(id)s marked reviewed.") % {"id": segment.segment_id})
        return HttpResponseRedirect(url)
    try:
        segment_edit(segment=segment, target=request.POST.get("target", ""), user=request.user)
    except ValueError:
        model_admin.message_user(
            request,
            _("Sentence %(id)s was not changed: give it a translation (one whose English still exists).")
            % {"id": segment.segment_id},
            messages.ERROR,
        )
        return HttpResponseRedirect(url)
    model_admin.message_user(
        request,
        _("Sentence %(id)s saved: it is current, and the body holds the new translation.")
        % {"id": segment.segment_id},
        messages.SUCCESS,
    )
    return HttpResponseRedirect(url)


def _review(model_admin: admin.ModelAdmin, request: HttpRequest, translations: QuerySet[Translation]) -> None:
    count = translations_mark_reviewed(translations=translations, user=request.user)
    model_admin.message_user(
        request,
        ngettext("%(count)d translation marked reviewed.", "%(count)d translations marked reviewed.", count)
        % {"count": count},
        messages.SUCCESS,
    )


def _record_review(translations: list[Translation], user) -> None:
    """Stamp who reviewed (or withdraw the stamp) for translations whose checkbox changed."""
    translations_mark_reviewed(translations=[t for t in translations if t.reviewed], user=user)
    translations_mark_unreviewed(translations=[t for t in translations if not t.reviewed])
