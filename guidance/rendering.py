"""Markdown to safe HTML for guidance pages: DocFX alerts, heading anchors, portal links, bilingual segments.

Everything an admin or an import puts in the body goes through nh3 at the end, so no script, event handler
or javascript: URL reaches a page whatever the markdown holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import nh3
from django.utils.html import escape
from django.utils.text import slugify
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALERT_KINDS = {"note", "tip", "important", "caution", "warning"}
_ALERT_MARKER = re.compile(r"^\s*\[!(\w+)\]\s*", re.IGNORECASE)
_ANCHOR_OPEN = re.compile(r"""^<a\s+(?:name|href=""\s+id|id)=["']([^"']+)["'][^>]*>$""", re.IGNORECASE)
_ANCHOR_CLOSE = re.compile(r"^</a\s*>$", re.IGNORECASE)

# Private-use characters mark where a segment starts and ends; they survive markdown untouched.
_SEG_OPEN, _SEG_MID, _SEG_CLOSE = "\ue000", "\ue001", "\ue002"
_SEG_OPEN_RE = re.compile(f"{_SEG_OPEN}(\\d+){_SEG_MID}")
_SEG_CLOSE_RE = re.compile(f"{_SEG_CLOSE}(\\d+){_SEG_MID}")
_SEG_ANY = re.compile(f"[{_SEG_OPEN}{_SEG_CLOSE}]\\d+{_SEG_MID}")

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "lang", "title"},
    "div": {"role"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "span": {"data-segment", "data-segment-id", "data-segment-state"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "ol": {"start"},
}


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass
class Rendered:
    html: str
    toc: list[Heading] = field(default_factory=list)
    aligned: int = 0


LinkResolver = Callable[[str], "str | None"]


@dataclass(frozen=True)
class PageSegment:
    """A segment as a page shows it: its id, state (current, outdated, missing), translation, the English it
    was made from and the current English."""

    id: str
    state: str
    target: str
    source: str
    english: str
    # What stands for the segment in the body when not its translation (filled from memory): the old
    # translation it replaces, or "" where it is inserted. None: the translation itself.
    in_body: str | None = None


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


_MD = _markdown()


def render_markdown(
    body: str,
    *,
    resolve_link: LinkResolver | None = None,
    segments: Sequence[PageSegment] = (),
    bilingual: bool = False,
    drop_title: bool = True,
) -> Rendered:
    """Render an article body with its segments marked by state: each outdated one with the new English
    beside it, each missing one as the English; bilingual shows the English under every current one too."""
    marked, aligned = _mark_segments(body, segments)
    tokens = _MD.parse(marked)
    if drop_title:
        tokens = _drop_first_h1(tokens)
    toc = _anchor_headings(tokens)
    _alerts(tokens)
    _rewrite_links(tokens, resolve_link)
    html = _MD.renderer.render(tokens, _MD.options, {})
    if segments:
        html = _SEG_OPEN_RE.sub(lambda m: _segment_open(int(m.group(1)), segments[int(m.group(1))]), html)
        html = _SEG_CLOSE_RE.sub(
            lambda m: _segment_close(segments[int(m.group(1))], resolve_link, bilingual=bilingual), html
        )
    return Rendered(html=sanitize(html), toc=toc, aligned=aligned)


def _segment_open(index: int, segment: PageSegment) -> str:
    # A translation whose English sentence was removed is shown as outdated: it no longer says what the
    # English says.
    state = "outdated" if segment.state == "dropped" else segment.state
    classes = "segment" if state == "current" else f"segment segment--{state}"
    if segment.state == "dropped":
        classes += " segment--dropped"
    if segment.in_body is not None:
        classes += " segment--from-memory"
    lang = ' lang="en"' if state == "missing" else ""
    return (
        f'<span class="{classes}" data-segment="{index}" data-segment-id="{escape(segment.id)}" '
        f'data-segment-state="{state}"{lang}>'
    )


def _segment_close(segment: PageSegment, resolve_link: LinkResolver | None, *, bilingual: bool) -> str:
    if segment.state == "missing":
        return _inline_html(segment.english, resolve_link) + "</span>"
    closing = "</span>"
    if bilingual and segment.source:  # the English the translation was made from, as before states
        closing += (
            f'<span class="segment-source" lang="en">{_inline_html(segment.source, resolve_link)}</span>'
        )
    if segment.state == "outdated" and segment.english:
        english = _inline_html(segment.english, resolve_link)
        closing += f'<span class="segment-english" lang="en">{english}</span>'
    return closing


def sanitize(html: str) -> str:
    """Keep only the tags and attributes guidance pages use; drop scripts, handlers and unsafe URLs."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _marked(index: int, text: str) -> str:
    return f"{_SEG_OPEN}{index}{_SEG_MID}{text}{_SEG_CLOSE}{index}{_SEG_MID}"


def _mark_segments(body: str, segments: Sequence[PageSegment]) -> tuple[str, int]:
    """Wrap each segment's translation in markers, in document order; text an admin changed is skipped. A
    missing segment (no translation) is placed after the segment before it, a space apart (before the first
    one found, when it comes first); two or more missing in a row are English the translation never had (a
    new heading, a list), so they make a paragraph of their own after the block they follow; and they make
    one at the end when no translation is found at all."""
    if not segments:
        return body, 0
    out: list[str] = []
    cursor = 0
    aligned = 0
    run: list[str] = []  # missing segments since the last translation found

    def flush(until: int) -> None:
        nonlocal cursor
        if not run:
            return
        boundary = body.find("\n\n", cursor)
        if until == len(body) and boundary < 0:
            boundary = len(body)
        if len(run) == 1 or boundary < 0 or boundary > until:
            out.append(" " + " ".join(run))  # within the block, after the sentence before
            run.clear()
            return
        out.append(body[cursor:boundary])
        out.append("\n\n" + " ".join(run) + "\n\n")
        cursor = boundary
        run.clear()

    for index, segment in enumerate(segments):
        if segment.state == "missing" or segment.in_body == "":
            shown = "" if segment.state == "missing" else segment.target
            if not (segment.english if segment.state == "missing" else shown).strip():
                continue
            run.append(_marked(index, shown))
            continue
        in_body = segment.target if segment.in_body is None else segment.in_body
        if not in_body.strip():
            continue
        found = body.find(in_body, cursor)
        if found < 0:
            continue
        if aligned:
            flush(found)
        out.append(body[cursor:found])
        if not aligned and run:  # missing before the first translation found: just before it
            out.append(" ".join(run) + " ")
            run.clear()
        out.append(_marked(index, segment.target))
        cursor = found + len(in_body)
        aligned += 1
    if aligned:
        flush(len(body))
    out.append(body[cursor:])
    if run:
        out.append("\n\n" + " ".join(run) + "\n")
    return "".join(out), aligned


def _inline_html(source: str, resolve_link: LinkResolver | None) -> str:
    tokens = _MD.parseInline(source)
    for token in tokens:
        if token.children:
            _strip_anchor_tags(token.children)
    _rewrite_links(tokens, resolve_link)
    return _MD.renderer.render(tokens, _MD.options, {})


def _drop_first_h1(tokens: list[Token]) -> list[Token]:
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1":
            return tokens[:index] + tokens[index + 3 :]
        if token.type not in ("heading_open",) and token.block and token.type != "html_block":
            # The title is only dropped when it is the first block.
            return tokens
    return tokens


def _strip_anchor_tags(children: list[Token]) -> str | None:
    """Remove <a name>/<a id></a> pairs from inline children; return the first anchor's name."""
    anchor = None
    keep = []
    skip_close = 0
    for child in children:
        if child.type == "html_inline":
            opened = _ANCHOR_OPEN.match(child.content.strip())
            if opened:
                anchor = anchor or opened.group(1)
                skip_close += 1
                continue
            if skip_close and _ANCHOR_CLOSE.match(child.content.strip()):
                skip_close -= 1
                continue
        keep.append(child)
    children[:] = keep
    return anchor


def _plain(children: Sequence[Token]) -> str:
    text = "".join(c.content for c in children if c.type in ("text", "code_inline"))
    return " ".join(_SEG_ANY.sub("", text).split())


def _anchor_headings(tokens: list[Token]) -> list[Heading]:
    toc: list[Heading] = []
    used: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[index + 1]
        children = inline.children or []
        anchor = _strip_anchor_tags(children)
        text = _plain(children)
        anchor = anchor or slugify(text, allow_unicode=True) or f"section-{index}"
        while anchor in used:
            anchor += "-1"
        used.add(anchor)
        token.attrSet("id", anchor)
        level = int(token.tag[1])
        if level in (2, 3):
            toc.append(Heading(level=level, text=text, anchor=anchor))
    return toc


def alert_labels() -> tuple[str, ...]:
    """The alert labels in the active language: the one part of a rendering that comes from the catalogues."""
    return tuple(_alert_label(kind) for kind in sorted(ALERT_KINDS))


def _alert_label(kind: str) -> str:
    labels = {
        "note": _("Note"),
        "tip": _("Tip"),
        "important": _("Important"),
        "caution": _("Caution"),
        "warning": _("Warning"),
    }
    return labels[kind]


def _alerts(tokens: list[Token]) -> None:
    """Turn DocFX '> [!NOTE]' blockquotes into labelled note boxes."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "blockquote_open" and index + 2 < len(tokens) and tokens[index + 2].type == "inline":
            inline = tokens[index + 2]
            children = inline.children or []
            marker = (
                _ALERT_MARKER.match(children[0].content) if children and children[0].type == "text" else None
            )
            if marker and marker.group(1).lower() in ALERT_KINDS:
                kind = marker.group(1).lower()
                children[0].content = children[0].content[marker.end() :]
                while children and (
                    children[0].type in ("softbreak", "hardbreak")
                    or (children[0].type == "text" and not children[0].content)
                ):
                    children.pop(0)
                token.tag = "div"
                token.attrSet("class", f"alert alert-{kind}")
                token.attrSet("role", "note")
                _close_alert(tokens, index)
                label = Token(
                    "html_block", "", 0, content=f'<p class="alert-title">{escape(_alert_label(kind))}</p>\n'
                )
                tokens.insert(index + 1, label)
        index += 1


def _close_alert(tokens: list[Token], start: int) -> None:
    depth = 0
    for token in tokens[start:]:
        if token.type == "blockquote_open":
            depth += 1
        elif token.type == "blockquote_close":
            depth -= 1
            if depth == 0:
                token.tag = "div"
                return


def _rewrite_links(tokens: list[Token], resolve_link: LinkResolver | None) -> None:
    for token in tokens:
        if token.children:
            _rewrite_inline_links(token.children, resolve_link)


def _rewrite_inline_links(children: list[Token], resolve_link: LinkResolver | None) -> None:
    """Point relative .md links at portal pages; unlink those with no page (never a broken link)."""
    drop: set[int] = set()
    stack: list[int] = []
    for index, child in enumerate(children):
        if child.type == "link_open":
            href = child.attrGet("href") or ""
            parts = urlsplit(href)
            is_doc_link = not parts.scheme and not parts.netloc and parts.path.lower().endswith(".md")
            if is_doc_link:
                slug = parts.path.rsplit("/", 1)[-1][: -len(".md")].lower()
                target = resolve_link(slug) if resolve_link else None
                if target:
                    child.attrSet("href", target + (f"#{parts.fragment}" if parts.fragment else ""))
                    stack.append(-1)
                else:
                    drop.add(index)
                    stack.append(index)
            else:
                stack.append(-1)
        elif child.type == "link_close":
            opened = stack.pop() if stack else -1
            if opened >= 0:
                drop.add(index)
    if drop:
        children[:] = [child for index, child in enumerate(children) if index not in drop]
