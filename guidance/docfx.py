"""Parse Microsoft DocFX localized markdown into a translated and an English article."""

from __future__ import annotations

import bisect
import codecs
import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

__all__ = [
    "LOCALE_TO_LANGUAGE",
    "MAX_SLUG_LENGTH",
    "DocfxError",
    "ParsedArticle",
    "Segment",
    "locale_from_path",
    "parse_article",
    "parse_file",
    "repository_locale",
    "slug_from_path",
    "slug_problem",
]

LOCALE_TO_LANGUAGE: dict[str, str] = {
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
    "zh-tw": "zh-hant",
    "zh-hk": "zh-hant",
    "zh-hant": "zh-hant",
    "zh-cn": "zh-hans",
    "zh-sg": "zh-hans",
    "zh-hans": "zh-hans",
    "ja": "ja",
    "ja-jp": "ja",
    "ru": "ru",
    "ru-ru": "ru",
}


class DocfxError(Exception):
    """A file that cannot be imported; str() is 'PATH:LINE: message'."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments defeat Exception's default pickling (Celery pickles task errors).
        return (_rebuild_error, (self.message, self.path, self.line))


def _rebuild_error(message: str, path: str, line: int | None) -> DocfxError:
    return DocfxError(message, path=path, line=line)


@dataclass(frozen=True)
class Segment:
    """One aligned segment: a translation and the English text it was made from."""

    id: str
    source: str
    target: str
    line: int


@dataclass
class ParsedArticle:
    """A localized DocFX article, with its English source when the file carries one."""

    path: str
    metadata: dict[str, str]
    locale: str
    language: str
    slug: str
    title: str
    description: str
    source_title: str | None
    source_description: str | None
    body: str
    source_body: str | None
    segments: list[Segment]
    translation_type: str | None
    source_hash: str | None
    source_commit: str | None
    asset_id: str | None
    date: datetime.date | None
    handoff_date: datetime.date | None
    cloud: str | None

    @property
    def has_spans(self) -> bool:
        """Whether the file carries aligned segments (and so an English source)."""
        return bool(self.segments)

    @property
    def revision_date(self) -> datetime.date | None:
        """The later of the article date and the localization hand-off date."""
        dates = [d for d in (self.date, self.handoff_date) if d is not None]
        return max(dates) if dates else None


# Locale shapes DocFX uses in folder names and file suffixes: 'ja', 'ja-jp', 'zh-hant'.
_LOCALE_SHAPE = re.compile(r"[a-z]{2}-(?:[a-z]{2}|[a-z]{4})")
_SEGMENT_ID = re.compile(r"[0-9a-f]{5}-p?\d+", re.IGNORECASE)
_SPAN_TAG = re.compile(r"<span(?:\s[^<>]*)?>|</span\s*>", re.IGNORECASE)
_SEGMENT_MARKUP = re.compile(r"data-ttu-id|data-stu-id|sxs-lookup", re.IGNORECASE)
# An HONumber comment cut short (truncated export) still only runs to the end of its line.
_HONUMBER = re.compile(r"<!--\s*HONumber(?:(?:(?!<!--).)*?-->|[^\n]*)", re.IGNORECASE | re.DOTALL)
_EMPTY_ANCHOR = re.compile(r"<a\b[^<>]*>\s*</a\s*>", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_TABLE_DELIMITER = re.compile(r" {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_NBSP_PREFIX = re.compile(r"([ \t\xa0]*)((?:[-*+]|\d{1,9}[.)])[ \t\xa0]+)?")
_BOLD_LABEL = re.compile(r"(\*\*|__)(?:(?!\1).)+\1[ \t]*[:\uff1a]?")
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d")
_YAML_NULL = "tag:yaml.org,2002:null"
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
# DocFX front matter is flat 'key: value' lines, a list at most; deeper nesting only risks the stack.
_MAX_FRONT_MATTER_DEPTH = 20

_APPLIES_TO_ENGLISH = ("applies to",)
# Translated bodies carry the label in their own language; files without spans have nothing else.
_APPLIES_TO_LOCALIZED = ("適用於", "适用于", "適用対象", "适用对象", "применимо к", "область применения")
_VIANET_MARKERS = ("21vianet", "世纪互联", "世紀互聯")


def _label_pattern(labels: Sequence[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(label) for label in labels)
    return re.compile(
        rf"(?:#{{1,6}}\s+)?(?P<bold>\*\*|__)?\s*(?:{alternatives})\s*(?P<colon1>[:\uff1a])?\s*"
        rf"(?(bold)(?P=bold))\s*(?P<colon2>[:\uff1a])?\s*(?P<rest>.*)",
        re.IGNORECASE,
    )


_APPLIES_TO_EN_LABEL = _label_pattern(_APPLIES_TO_ENGLISH)
_APPLIES_TO_ANY_LABEL = _label_pattern(_APPLIES_TO_ENGLISH + _APPLIES_TO_LOCALIZED)


def _normalise_locale(value: str) -> str:
    return value.strip().lower().replace("_", "-")


def _as_locale(part: str) -> str | None:
    candidate = _normalise_locale(part)
    if candidate in LOCALE_TO_LANGUAGE or _LOCALE_SHAPE.fullmatch(candidate):
        return candidate
    return None


def _path_parts(path: str | os.PathLike[str]) -> list[str]:
    return [part for part in re.split(r"[\\/]+", os.fspath(path)) if part]


def locale_from_path(path: str | os.PathLike[str]) -> str | None:
    """Return the DocFX locale named by a file suffix or folder of path, or None."""
    parts = _path_parts(path)
    if not parts:
        return None
    # The file name's own suffix ('a.ja-jp.md') is more specific than any folder.
    for piece in reversed(parts[-1].split(".")[1:]):
        if (found := _as_locale(piece)) is not None:
            return found
    for folder in reversed(parts[:-1]):
        if (found := _as_locale(folder)) is not None:
            return found
    return None


def repository_locale(path: str | os.PathLike[str]) -> str | None:
    """Return the locale of the clone of a localized docs repository that path lies in, or None.

    Microsoft's localized docs repositories are named <docset>.<locale> (partner-center-pr.zh-tw), so a
    folder named so says the locale of the files below it. Only locales in LOCALE_TO_LANGUAGE count: any
    other suffix is just part of a folder's name.
    """
    for folder in reversed(_path_parts(path)[:-1]):
        name, dot, suffix = folder.rpartition(".")
        if dot and name and (locale := _normalise_locale(suffix)) in LOCALE_TO_LANGUAGE:
            return locale
    return None


def slug_from_path(path: str | os.PathLike[str]) -> str:
    """Return the file stem of path without its extension and any locale suffix.

    The extension is stripped once: x.md.md gives x.md, which is no slug (slug_problem), so such a file is
    refused rather than guessed at.
    """
    parts = _path_parts(path)
    if not parts:
        return ""
    pieces = parts[-1].split(".")
    if len(pieces) > 1 and _as_locale(pieces[-1]) is None:
        pieces.pop()
    if len(pieces) > 1 and _as_locale(pieces[-1]) is not None:
        pieces.pop()
    return ".".join(pieces)


# An article's slug is the last segment of its page address: Django's slug (the <slug:> path converter),
# and no longer than the column that keeps it.
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
MAX_SLUG_LENGTH = 200
_SLUG_RULE = "letters, digits, hyphens and underscores only"


def slug_problem(slug: str) -> str | None:
    """Why slug cannot be an article's slug, or None if it can."""
    if not _SLUG.fullmatch(slug):
        return f"the slug '{slug}' cannot be part of a page address ({_SLUG_RULE})"
    if len(slug) > MAX_SLUG_LENGTH:
        return f"the slug is {len(slug)} characters long; the limit is {MAX_SLUG_LENGTH}"
    return None


def _check_slug(slug: str, path: str, *, given: bool) -> None:
    problem = slug_problem(slug)
    if problem is None:
        return
    if given:
        raise DocfxError(problem, path=path, line=1)
    name = _path_parts(path)[-1]
    if name.lower().endswith(".md.md"):
        raise DocfxError(
            f"the file name '{name}' ends in '.md' twice (it would give the slug '{slug}'): "
            f"rename it to '{name[:-3]}'",
            path=path,
            line=1,
        )
    if len(slug) > MAX_SLUG_LENGTH:
        raise DocfxError(f"{problem}: rename the file or pass --slug", path=path, line=1)
    raise DocfxError(
        f"the file name gives the slug '{slug}', which cannot be part of a page address ({_SLUG_RULE}): "
        "rename the file or pass --slug",
        path=path,
        line=1,
    )


def parse_file(
    path: str | os.PathLike[str],
    *,
    locale: str | None = None,
    slug: str | None = None,
    max_bytes: int | None = None,
) -> ParsedArticle:
    """Read and parse the DocFX markdown file at path, refusing one larger than max_bytes."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            if max_bytes is None:
                data = handle.read()
            else:
                size = os.fstat(handle.fileno()).st_size
                if size > max_bytes:
                    raise _too_large(name, max_bytes, size)
                # A file still growing, or one stat cannot size, is read no further than the limit.
                data = handle.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise _too_large(name, max_bytes, None)
    except OSError as exc:
        raise DocfxError(f"cannot read the file: {exc.strerror or exc}", path=name) from exc
    return parse_article(data, path=name, locale=locale, slug=slug)


def _too_large(path: str, max_bytes: int, size: int | None) -> DocfxError:
    limit = f"{max_bytes // 1024} KB" if max_bytes % 1024 == 0 else f"{max_bytes:,} bytes"
    found = f" ({size:,} bytes)" if size is not None else ""
    return DocfxError(
        f"the file is larger than the {limit} limit{found} (GUIDANCE_MAX_FILE_KB)", path=path, line=1
    )


def parse_article(
    text: str | bytes,
    *,
    path: str | os.PathLike[str],
    locale: str | None = None,
    slug: str | None = None,
) -> ParsedArticle:
    """Parse DocFX localized markdown; path is used for errors, the locale and the slug."""
    path = os.fspath(path)
    lines = _normalise_lines(_decode(text, path))
    front_lines, body_index = _split_front_matter(lines, path)
    metadata, key_lines = _load_front_matter(front_lines, path)

    article_locale = _resolve_locale(metadata, key_lines, path, locale)
    article_slug = slug if slug is not None else slug_from_path(path)
    if not article_slug.strip():
        raise DocfxError("cannot tell the slug: pass --slug", path=path)
    _check_slug(article_slug, path, given=slug is not None)

    body_line = body_index + 1
    # Keep the comment's line breaks so segment line numbers still match the file.
    raw_body = _HONUMBER.sub(lambda m: "\n" * m.group(0).count("\n"), "\n".join(lines[body_index:]))
    if not raw_body.strip():
        raise DocfxError("empty body: nothing follows the front matter", path=path, line=body_line)

    target_text, source_text, segments = _resolve_spans(raw_body, first_line=body_line, path=path)
    body = _tidy(target_text)
    source_body = _tidy(source_text) if segments else None
    if not body.strip():
        raise DocfxError("empty body: nothing follows the front matter", path=path, line=body_line)

    title = _front_matter_text(metadata, key_lines, "title", path)
    description = _front_matter_text(metadata, key_lines, "description", path)
    if not title:
        title = _first_h1(body.split("\n")) or ""
    if not title:
        raise DocfxError("no title: add 'title' to the front matter or an H1 heading", path=path, line=1)

    source_title = _first_h1(source_body.split("\n")) if source_body is not None else None
    source_description = (
        _source_description(description, segments, raw_body.split("\n"), body_line, path)
        if segments
        else None
    )

    return ParsedArticle(
        path=path,
        metadata=metadata,
        locale=article_locale,
        language=LOCALE_TO_LANGUAGE[article_locale],
        slug=article_slug,
        title=title,
        description=description,
        source_title=source_title,
        source_description=source_description,
        body=body,
        source_body=source_body,
        segments=segments,
        translation_type=_translation_type(metadata.get("translationtype", "")),
        source_hash=metadata.get("openlocfilehash", "").strip() or None,
        source_commit=metadata.get("sourcegitcommit", "").strip() or None,
        asset_id=metadata.get("assetid", "").strip() or None,
        date=_metadata_date(metadata, key_lines, "date", path),
        handoff_date=_metadata_date(metadata, key_lines, "lasthandoff", path),
        cloud=_cloud(body, source_body, [title, source_title or ""]),
    )


def _line_number(before: str | bytes) -> int:
    if isinstance(before, str):
        return before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    # CRLF counts once, lone CR and LF count once each, as after normalisation.
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1


def _decode(text: str | bytes, path: str) -> str:
    if isinstance(text, str):
        decoded = text.removeprefix("\ufeff")
        bad_char = re.search("[\x00\ud800-\udfff]", decoded)
        if bad_char is not None:
            raise DocfxError(
                "not a UTF-8 text file (NUL or unpaired surrogate)",
                path=path,
                line=_line_number(decoded[: bad_char.start()]),
            )
        return decoded
    data = bytes(text).removeprefix(codecs.BOM_UTF8)
    bad: int | None = None
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    nul = data.find(b"\0")
    if nul != -1 and (bad is None or nul < bad):
        bad = nul
    if bad is not None:
        raise DocfxError(
            f"not a UTF-8 text file (byte 0x{data[bad]:02x})", path=path, line=_line_number(data[:bad])
        )
    return decoded


def _normalise_line(line: str) -> str:
    if not line.strip():
        return ""
    match = _NBSP_PREFIX.match(line)
    assert match is not None
    prefix = match.group(0)
    if "\xa0" not in prefix:
        return line
    return prefix.replace("\xa0", " ") + line[match.end() :]


def _normalise_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [_normalise_line(line) for line in text.split("\n")]


def _split_front_matter(lines: list[str], path: str) -> tuple[list[str], int]:
    if lines[0].rstrip() != "---":
        raise DocfxError("no front matter: the file must start with a '---' line", path=path, line=1)
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return lines[1:index], index + 1
    last_line = len(lines) - 1 if len(lines) > 1 and lines[-1] == "" else len(lines)
    raise DocfxError(
        "front matter opened on line 1 is never closed with a '---' line (truncated file?)",
        path=path,
        line=last_line,
    )


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _written_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG_PREFIX) if tag.startswith(_YAML_TAG_PREFIX) else tag


def _refused_feature(event: yaml.Event) -> str | None:
    if isinstance(event, yaml.AliasEvent):
        return f"YAML alias '*{_shorten(event.anchor)}'"
    if getattr(event, "anchor", None) is not None:
        return f"YAML anchor '&{_shorten(event.anchor)}'"
    if getattr(event, "tag", None) is not None:
        return f"YAML tag '{_shorten(_written_tag(event.tag))}'"
    return None


def _refuse_yaml_features(text: str, path: str, first_line: int) -> None:
    """Refuse anchors, aliases, explicit tags and deep nesting, from the events alone, before composing.

    Aliases are how a few hundred bytes expand to gigabytes (billion laughs) and tags ask for objects;
    DocFX front matter needs neither, and checking the event stream means nothing is ever expanded or built.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = first_line + event.start_mark.line
        problem = _refused_feature(event)
        if problem is not None:
            raise DocfxError(
                f"front matter uses a {problem}: anchors, aliases and tags are not allowed",
                path=path,
                line=line,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_FRONT_MATTER_DEPTH:
                raise DocfxError(
                    f"front matter nests deeper than {_MAX_FRONT_MATTER_DEPTH} levels", path=path, line=line
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _node_text(node: yaml.Node, seen: set[int]) -> str:
    # seen is shared by the whole front matter, so a node reached twice (an alias) is written once:
    # the text stays as long as the YAML, whatever the parser let through.
    if id(node) in seen:
        return ""
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        return "" if node.tag == _YAML_NULL else str(node.value)
    if isinstance(node, yaml.SequenceNode):
        return ", ".join(_node_text(item, seen) for item in node.value)
    if isinstance(node, yaml.MappingNode):
        return ", ".join(f"{_node_text(k, seen)}: {_node_text(v, seen)}" for k, v in node.value)
    return ""


def _load_front_matter(front_lines: list[str], path: str) -> tuple[dict[str, str], dict[str, int]]:
    first_line = 2
    try:
        text = "\n".join(front_lines)
        _refuse_yaml_features(text, path, first_line)
        # Composing (SafeLoader's parse step) keeps every scalar's exact text, so hashes with
        # leading zeros or values like 'yes' and '2020-13-45' survive unchanged as strings.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + mark.line if mark is not None else first_line
        problem = exc.problem or exc.context or "syntax error"
        raise DocfxError(f"front matter is not valid YAML: {problem}", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise DocfxError(f"front matter is not valid YAML: {exc}", path=path, line=first_line) from exc
    if root is None:
        return {}, {}
    if not isinstance(root, yaml.MappingNode):
        raise DocfxError(
            "front matter is not a mapping of 'key: value' lines",
            path=path,
            line=first_line + root.start_mark.line,
        )
    metadata: dict[str, str] = {}
    key_lines: dict[str, int] = {}
    prefixed: set[str] = set()
    seen: set[int] = set()
    for key_node, value_node in root.value:
        raw_key = _node_text(key_node, seen).strip().lower()
        key = raw_key.removeprefix("ms.")
        is_prefixed = raw_key != key
        # When both 'ms.x' and 'x' are present, the 'ms.' form is the current DocFX spelling.
        if key in prefixed and not is_prefixed:
            continue
        if is_prefixed:
            prefixed.add(key)
        metadata[key] = _node_text(value_node, seen)
        key_lines[key] = first_line + key_node.start_mark.line
    return metadata, key_lines


def _resolve_locale(
    metadata: dict[str, str], key_lines: dict[str, int], path: str, argument: str | None
) -> str:
    given: str | None = None
    if argument:
        given = _normalise_locale(argument)
        if given not in LOCALE_TO_LANGUAGE:
            raise DocfxError(f"unknown locale '{argument}' (given as an argument)", path=path)
    declared = metadata.get("contentlocale", "").strip()
    if declared:
        found = _normalise_locale(declared)
        if found not in LOCALE_TO_LANGUAGE:
            raise DocfxError(f"unknown locale '{found}'", path=path, line=key_lines.get("contentlocale"))
        return found
    from_path = locale_from_path(path)
    if from_path in LOCALE_TO_LANGUAGE:
        return from_path
    if given is not None:
        return given
    if from_path is not None:
        raise DocfxError(f"unknown locale '{from_path}' (taken from the file path)", path=path)
    # The clone's name is the least specific hint: any folder or file name inside it, or --locale, says more.
    from_repository = repository_locale(path)
    if from_repository is not None:
        return from_repository
    raise DocfxError(
        "cannot tell the locale: add ms.contentlocale, put the locale in the file name or a folder name "
        "(ja-jp/, partner-center-pr.ja-jp/), or pass --locale",
        path=path,
    )


def _attribute(tag: str, name: str) -> str | None:
    match = re.search(rf"""(?<![\w-]){name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", tag, re.IGNORECASE)
    if match is None:
        return None
    return next(group for group in match.groups() if group is not None)


def _is_lookup(tag: str) -> bool:
    classes = _attribute(tag, "class")
    return classes is not None and "sxs-lookup" in classes.lower().split()


def _is_segment_tag(tag: str) -> bool:
    return _SEGMENT_MARKUP.search(tag) is not None


def _find_close(text: str, start: int) -> re.Match[str] | None:
    # Inline HTML cannot cross a blank line, so a span still open there is unclosed.
    paragraph_end = _BLANK_LINE.search(text, start)
    end = paragraph_end.start() if paragraph_end else len(text)
    depth = 1
    for match in _SPAN_TAG.finditer(text, start, end):
        tag = match.group(0)
        if tag.startswith("</"):
            depth -= 1
            if depth == 0:
                return match
        elif _is_segment_tag(tag):
            # Another segment starting inside this one means this one was never closed.
            return None
        else:
            depth += 1
    return None


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _resolve_spans(text: str, *, first_line: int, path: str) -> tuple[str, str, list[Segment]]:
    newlines = [index for index, char in enumerate(text) if char == "\n"]

    def line_at(offset: int) -> int:
        return first_line + bisect.bisect_left(newlines, offset)

    def fail(message: str, offset: int) -> DocfxError:
        return DocfxError(message, path=path, line=line_at(offset))

    target: list[str] = []
    source: list[str] = []
    segments: list[Segment] = []
    seen: dict[str, int] = {}

    def shared(chunk: str, offset: int) -> None:
        leftover = _SEGMENT_MARKUP.search(chunk)
        if leftover is not None:
            raise fail(f"'{leftover.group(0)}' outside a well-formed segment span", offset + leftover.start())
        target.append(chunk)
        source.append(chunk)

    position = 0
    while (tag := _SPAN_TAG.search(text, position)) is not None:
        shared(text[position : tag.start()], position)
        markup = tag.group(0)
        segment_id = _attribute(markup, "data-ttu-id")
        if segment_id is None:
            if _attribute(markup, "data-stu-id") is not None or _is_lookup(markup):
                raise fail("stray sxs-lookup span: no data-ttu-id span comes right before it", tag.start())
            shared(markup, tag.start())
            position = tag.end()
            continue

        line = line_at(tag.start())
        if not _SEGMENT_ID.fullmatch(segment_id):
            raise fail(f"malformed segment id '{segment_id}'", tag.start())
        target_close = _find_close(text, tag.end())
        if target_close is None:
            raise fail(f"unclosed span for segment '{segment_id}'", tag.start())

        lookup = _SPAN_TAG.match(text, _skip_space(text, target_close.end()))
        if lookup is None or lookup.group(0).startswith("</") or not _is_lookup(lookup.group(0)):
            raise fail(
                f"segment '{segment_id}' has no English twin: expected "
                '<span class="sxs-lookup"> right after it',
                tag.start(),
            )
        inner = _SPAN_TAG.match(text, _skip_space(text, lookup.end()))
        source_id = _attribute(inner.group(0), "data-stu-id") if inner is not None else None
        if inner is None or source_id is None:
            raise fail(
                f"the sxs-lookup span after segment '{segment_id}' does not hold a data-stu-id span",
                lookup.start(),
            )
        if source_id.lower() != segment_id.lower():
            raise fail(
                f"segment '{segment_id}' is followed by the English source of segment '{source_id}'",
                inner.start(),
            )
        source_close = _find_close(text, inner.end())
        if source_close is None:
            raise fail(f"unclosed data-stu-id span for segment '{segment_id}'", inner.start())
        lookup_close = _SPAN_TAG.match(text, _skip_space(text, source_close.end()))
        if lookup_close is None or not lookup_close.group(0).startswith("</"):
            raise fail(
                f"the sxs-lookup span of segment '{segment_id}' holds more than its data-stu-id span",
                source_close.end(),
            )

        key = segment_id.lower()
        if key in seen:
            raise fail(f"duplicate segment id '{segment_id}' (first used on line {seen[key]})", tag.start())
        seen[key] = line
        translated = text[tag.end() : target_close.start()]
        english = text[inner.end() : source_close.start()]
        segments.append(Segment(id=segment_id, source=english, target=translated, line=line))
        target.append(translated)
        source.append(english)
        position = lookup_close.end()

    shared(text[position:], position)
    return "".join(target), "".join(source), segments


def _tidy(text: str) -> str:
    lines = ["" if not line.strip() else line for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def _front_matter_text(metadata: dict[str, str], key_lines: dict[str, int], key: str, path: str) -> str:
    value = _HONUMBER.sub("", metadata.get(key, "")).strip()
    if _SEGMENT_MARKUP.search(value):
        # Some exports wrap the front matter title in segment spans too; keep the translation.
        value, _, _ = _resolve_spans(value, first_line=key_lines.get(key, 1), path=path)
    return " ".join(value.split())


def _line_kinds(lines: list[str]) -> list[str]:
    """Classify each markdown line as blank, heading, rule, list, quote, table, code or paragraph."""
    kinds: list[str] = []
    fence: str | None = None
    previous = "blank"
    last_block = "blank"
    for line in lines:
        stripped = line.lstrip(" \t")
        indent = len(line) - len(stripped)
        if fence is not None:
            kind = "code"
            if stripped.startswith(fence) and not stripped.rstrip().strip(fence[0]):
                fence = None
        elif (opening := _FENCE.match(line)) is not None:
            fence = opening.group(1)
            kind = "code"
        elif not stripped:
            kind = "blank"
        elif _ATX.match(line):
            kind = "heading"
        elif stripped.startswith(">"):
            kind = "quote"
        elif (
            _LIST_ITEM.match(stripped)
            or previous == "list"
            or (previous == "blank" and last_block == "list" and indent >= 2)
        ):
            # Lazy and indented continuation lines belong to the list item above them.
            kind = "list"
        elif previous == "blank" and indent >= 4:
            kind = "code"
        elif stripped.startswith("|"):
            kind = "table"
        else:
            kind = "paragraph"
        kinds.append(kind)
        previous = kind
        if kind != "blank":
            last_block = kind

    for index, line in enumerate(lines):
        if kinds[index] not in ("paragraph", "table"):
            continue
        if "|" in line and _TABLE_DELIMITER.match(line):
            start = index
            while start > 0 and kinds[start - 1] in ("paragraph", "table"):
                start -= 1
            end = index
            while end + 1 < len(lines) and kinds[end + 1] in ("paragraph", "table"):
                end += 1
            for row in range(start, end + 1):
                kinds[row] = "table"
        elif (
            index + 1 < len(lines)
            and kinds[index + 1] in ("paragraph", "list")
            and _SETEXT.match(lines[index + 1])
            and not _LIST_ITEM.match(lines[index + 1].lstrip())
        ):
            kinds[index] = "heading"
            kinds[index + 1] = "rule"
    return kinds


def _heading_text(text: str) -> str:
    return " ".join(_EMPTY_ANCHOR.sub("", text).split())


def _first_h1(lines: list[str]) -> str | None:
    kinds = _line_kinds(lines)
    for index, line in enumerate(lines):
        if kinds[index] != "heading":
            continue
        atx = _ATX.match(line)
        if atx is not None:
            if len(atx.group(1)) == 1:
                return _heading_text(atx.group(2) or "") or None
        elif lines[index + 1].strip().startswith("="):
            return _heading_text(line) or None
    return None


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _is_label(text: str) -> bool:
    if _BOLD_LABEL.fullmatch(text):
        return True
    match = _APPLIES_TO_EN_LABEL.fullmatch(text)
    return match is not None and _is_whole_label(match)


def _is_whole_label(match: re.Match[str]) -> bool:
    # 'Applies to all partners…' is prose; a label stands alone or ends with a colon.
    return not match.group("rest") or bool(match.group("colon1") or match.group("colon2"))


def _source_description(
    description: str, segments: list[Segment], raw_lines: list[str], first_line: int, path: str
) -> str | None:
    wanted = _collapse(description)
    if wanted:
        for segment in segments:
            if _collapse(segment.target) == wanted:
                return _collapse(segment.source)
        # A description can also be two or more consecutive sentences of one line.
        squeezed = "".join(wanted.split())
        by_line: dict[int, list[Segment]] = {}
        for segment in segments:
            by_line.setdefault(segment.line, []).append(segment)
        for group in by_line.values():
            for start in range(len(group)):
                joined = ""
                for end in range(start, len(group)):
                    joined += "".join(group[end].target.split())
                    if joined == squeezed and end > start:
                        return " ".join(_collapse(s.source) for s in group[start : end + 1])

    kinds = _line_kinds(raw_lines)
    for segment in segments:
        index = segment.line - first_line
        if kinds[index] != "paragraph":
            continue
        if _is_label(_collapse(segment.source)) or _is_label(_line_source(raw_lines[index], path)):
            continue
        return _collapse(segment.source)
    return None


def _line_source(line: str, path: str) -> str:
    try:
        _, english, _ = _resolve_spans(line, first_line=1, path=path)
    except DocfxError:
        # A segment running over several lines cannot be resolved one line at a time.
        return _collapse(line)
    return _collapse(english)


def _applies_to_block(lines: list[str], label: re.Pattern[str]) -> str | None:
    for index, line in enumerate(lines):
        match = label.fullmatch(line.strip())
        if match is None or not _is_whole_label(match):
            continue
        parts = [match.group("rest")]
        after_blank = False
        in_list = False
        for following in lines[index + 1 :]:
            stripped = following.lstrip()
            if not stripped:
                after_blank = True
                continue
            if _ATX.match(following):
                break
            if _LIST_ITEM.match(stripped):
                in_list = True
            elif after_blank and not (in_list and len(following) - len(stripped) >= 2):
                break
            parts.append(following)
            after_blank = False
        return "\n".join(parts)
    return None


def _cloud(body: str, source_body: str | None, titles: list[str]) -> str | None:
    blocks = [_applies_to_block(body.split("\n"), _APPLIES_TO_ANY_LABEL)]
    if source_body is not None:
        blocks.append(_applies_to_block(source_body.split("\n"), _APPLIES_TO_EN_LABEL))
    found = [block for block in blocks if block is not None]
    haystack = "\n".join([*found, *titles]).lower()
    if any(marker in haystack for marker in _VIANET_MARKERS):
        return "21vianet"
    return "global" if found else None


def _translation_type(value: str) -> str | None:
    kind = " ".join(value.lower().split())
    if kind in ("ht", "human") or kind.startswith("human"):
        return "human"
    # 'MTE…' marks machine translation with light human post-editing; the text is still MT.
    if kind in ("mt", "machine") or kind.startswith(("machine", "mte")):
        return "machine"
    return None


def _metadata_date(
    metadata: dict[str, str], key_lines: dict[str, int], key: str, path: str
) -> datetime.date | None:
    value = metadata.get(key, "").strip()
    if not value:
        return None
    for pattern in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise DocfxError(f"ms.{key} '{value}' is not a MM/DD/YYYY date", path=path, line=key_lines.get(key))


def first_heading(markdown: str) -> str | None:
    """The text of the first level-1 heading in markdown, anchors removed, or None."""
    return _first_h1(markdown.split("\n"))
