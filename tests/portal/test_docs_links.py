"""Every relative link in README.md and docs/*.md reaches a file, and every #anchor a heading of it."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the target stops at whitespace (a title may follow) or the closing bracket.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without code: links and headings inside code blocks are not links or headings."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    heading = INLINE_CODE.sub(lambda code: code.group(0).strip("`"), heading)
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    kept = "".join(char for char in heading.lower() if char in " -_" or unicodedata.category(char)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor the headings of a markdown file make, numbered as GitHub numbers repeats."""
    seen: dict[str, int] = {}
    found = set()
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    for heading in HEADING.findall(text):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        found.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return found


def broken_links(path: Path) -> list[str]:
    """The relative links of a markdown file that reach no file, or no heading of the file they name."""
    broken = []
    for target in LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # https:, mailto: and the like
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{path.name}: {target} (no such heading)")
    return broken


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    """Each relative link of the document reaches a file in the checkout, and its anchor a heading there."""
    assert broken_links(path) == []


def test_the_readme_links_every_document_in_docs() -> None:
    """Nothing in docs/ is out of a newcomer's reach: the README links every page."""
    readme = _prose((ROOT / "README.md").read_text(encoding="utf-8"))
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(readme)}
    assert [page.name for page in DOCUMENTS[1:] if page.resolve() not in linked] == []


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    """The check names a missing file and a missing heading, and lets through what exists."""
    (tmp_path / "other.md").write_text("# Other page\n\n## The `make run` target\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md) [ok](other.md#the-make-run-target) [ok](#page) [web](https://example.com/x)\n"
        "[gone](missing.md) [no heading](other.md#nowhere) `[code](ignored.md)`\n\n"
        "```\n[in a block](also-ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "page.md: missing.md (no such file)",
        "page.md: other.md#nowhere (no such heading)",
    ]
