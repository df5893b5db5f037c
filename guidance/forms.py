"""Form fields for editing guidance in Django admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guidance.models import Article, lf_line_endings


class TextareaField(forms.CharField):
    """A textarea's text exactly as the reader saw it, with LF line endings.

    Browsers submit a textarea with CRLF while imports store LF, and Django would strip the final newline an
    import writes: either would make a tab nobody touched differ from what was stored, so saving one
    language's tab would change (and record as edited) all of them.
    """

    def __init__(self, *, strip: bool = False, **kwargs: Any) -> None:
        super().__init__(strip=strip, **kwargs)

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return lf_line_endings(value) if isinstance(value, str) else value


class ArticleAdminForm(forms.ModelForm):
    """The article's texts, and whether an edit of its English is a minor one."""

    minor_change = forms.BooleanField(
        label=_("Minor change (typo or formatting): keep translations current"),
        help_text=_(
            "For an edit of the English that does not change what a sentence says: the translations of the "
            "sentences you corrected stay current instead of becoming outdated."
        ),
        required=False,
    )

    class Meta:
        model = Article
        fields = ("slug", "cloud", "title", "description", "body")  # and their translations (admin)
