"""Hostile guidance input: YAML that expands or builds objects, and files or bodies over the size limit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from guidance.models import Article, Segment, Translation
from tests.guidance.conftest import FIXTURES, ROOT
from tests.guidance.test_admin import form_data
from tests.guidance.test_docfx import BILLION_LAUGHS

pytestmark = pytest.mark.django_db

GOOD = "escalate-problems-to-microsoft.ja-jp.md"

HOSTILE_FILES = {
    "laughs.ja-jp.md": (BILLION_LAUGHS, 4, "YAML anchor '&a'"),
    "alias.ja-jp.md": ("---\ntitle: T\ndescription: *t\n---\n# T\n\nBody\n", 3, "YAML alias '*t'"),
    "anchor.ja-jp.md": ("---\ntitle: &t T\ndescription: *t\n---\n# T\n\nBody\n", 2, "YAML anchor '&t'"),
    "tag.ja-jp.md": (
        "---\ntitle: T\n\nms.custom: !!python/object/apply:os.system [id]\n---\n# T\n\nBody\n",
        4,
        "YAML tag '!!python/object/apply:os.system'",
    ),
}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_guidance", *args, stdout=out)
    return out.getvalue()


def stored() -> tuple[int, ...]:
    return (
        Article.objects.count(),
        Translation.objects.count(),
        Segment.objects.count(),
        Article.history.count(),
    )


def good_file(tmp_path: Path) -> Path:
    """A valid article beside the bad one, to show the run is all-or-nothing."""
    good = tmp_path / GOOD
    good.write_text((FIXTURES / GOOD).read_text())
    return good


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_anchors_aliases_and_tags_stop_the_import_at_their_line(seeded, tmp_path: Path, name: str) -> None:
    """A front matter anchor, alias or tag names the file and line, quickly, and nothing is written."""
    content, line, problem = HOSTILE_FILES[name]
    bad = tmp_path / name
    bad.write_text(content)
    before = stored()

    started = time.perf_counter()
    with pytest.raises(CommandError) as error:
        run(str(good_file(tmp_path)), str(bad))
    assert time.perf_counter() - started < 1.0
    assert str(error.value).startswith(f"{bad}:{line}: front matter uses a {problem}")
    assert "Nothing was imported." in str(error.value)
    assert stored() == before


def test_file_over_the_size_limit_stops_the_import(seeded, settings, tmp_path: Path) -> None:
    """A file larger than GUIDANCE_MAX_FILE_KB is refused at line 1 naming the limit, and nothing is written."""
    settings.GUIDANCE_MAX_FILE_KB = 4
    bad = tmp_path / "huge.ja-jp.md"
    bad.write_text("---\ntitle: T\n---\n# T\n\n" + "x" * 5000 + "\n")
    before = stored()

    with pytest.raises(CommandError) as error:
        run(str(good_file(tmp_path)), str(bad))
    assert str(error.value).startswith(f"{bad}:1: the file is larger than the 4 KB limit")
    assert "GUIDANCE_MAX_FILE_KB" in str(error.value)
    assert "Nothing was imported." in str(error.value)
    assert stored() == before


def test_file_at_the_size_limit_is_imported(db, settings, tmp_path: Path) -> None:
    """A file of exactly GUIDANCE_MAX_FILE_KB is still imported."""
    settings.GUIDANCE_MAX_FILE_KB = 1
    path = tmp_path / "exact.ja-jp.md"
    head = "---\ntitle: T\n---\n# T\n\n"
    path.write_text(head + "x" * (1024 - len(head) - 1) + "\n")
    assert path.stat().st_size == 1024
    run(str(path))
    assert Article.objects.get(slug="exact").title_ja == "T"


def test_billion_laughs_exits_non_zero_at_once(tmp_path: Path) -> None:
    """Run as a process, the billion-laughs file gives exit status 1 and its file:line within seconds."""
    bad = tmp_path / "laughs.ja-jp.md"
    bad.write_text(BILLION_LAUGHS)
    env = {**os.environ}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "import_guidance", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert f"{bad}:4: front matter uses a YAML anchor '&a'" in result.stderr


def test_body_over_the_size_limit_fails_validation(seeded, settings) -> None:
    """A translated body larger than GUIDANCE_MAX_FILE_KB does not pass model validation."""
    settings.GUIDANCE_MAX_FILE_KB = 1
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    article.body_ja = "あ" * 400  # 1,200 bytes in UTF-8
    with pytest.raises(ValidationError) as error:
        article.full_clean()
    assert error.value.error_dict["body_ja"][0].code == "too_large"


def test_admin_cannot_store_a_body_over_the_size_limit(client, staff, seeded, settings) -> None:
    """The change form refuses an oversized body on its field, and the stored body is unchanged."""
    settings.GUIDANCE_MAX_FILE_KB = 16
    article = Article.objects.get(slug="provide-billing-support", cloud="global")
    client.force_login(staff)
    url = reverse("admin:guidance_article_change", args=[article.pk])
    data = form_data(client.get(url))
    data["body_ru"] = "б" * 9000  # 18,000 bytes in UTF-8

    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["body_ru"] == ["This text is 18 KB; the limit is 16 KB."]
    article.refresh_from_db()
    assert "б" * 9000 not in article.body_ru
