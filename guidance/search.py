"""The text side of the guidance search: the query as the portal accepts it, which database search each
language gets, and the matched sentence of a result as safe HTML. Pure Python; the queries are in
guidance/models.py (ArticleQuerySet.search)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from markupsafe import Markup, escape

MAX_QUERY_LENGTH = 200

# PostgreSQL text search configurations; a language without one of its own is searched word for word.
TEXT_SEARCH_CONFIGS = {"en": "english", "ru": "russian"}
SIMPLE_CONFIG = "simple"
# Written without spaces between words, so a word of the query is matched as a substring (pg_trgm).
SUBSTRING_LANGUAGES = frozenset({"zh-hant", "zh-hans", "ja"})

# ts_headline wraps each matched word in these (private-use characters, stripped from queries).
MARK_START = "\ue000"
MARK_STOP = "\ue001"
_MARKED = re.compile(f"{MARK_START}(.*?){MARK_STOP}", re.DOTALL)

SNIPPET_LENGTH = 240
SNIPPET_LEAD = 60


_TAG = re.compile(r"<[^>]+>")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[#*_>|`~\[\]]+")


def plain_text(markdown: str) -> str:
    """Markdown reduced to its words, for searching."""
    text = _LINK.sub(r"\1", _TAG.sub(" ", markdown))
    return " ".join(_MARKUP.sub(" ", text).split())


def text_search_config(language: str) -> str:
    return TEXT_SEARCH_CONFIGS.get(language, SIMPLE_CONFIG)


def clean_query(raw: str) -> str:
    """The query a reader typed, without control and private-use characters (PostgreSQL refuses NUL), with
    runs of whitespace made one space, and cut to MAX_QUERY_LENGTH characters."""
    kept = "".join(ch for ch in raw if unicodedata.category(ch) not in {"Cc", "Co", "Cs"} or ch.isspace())
    return " ".join(kept.split())[:MAX_QUERY_LENGTH].strip()


def query_words(query: str) -> list[str]:
    """The words of a query, case-folded, each once, as a substring search looks for them: without the
    quotes and the exclusions of web search syntax ("-word"), and without its "or"."""
    words: list[str] = []
    for word in query.casefold().replace('"', " ").split():
        if word.startswith("-") or word == "or" or word in words:
            continue
        words.append(word)
    return words


def marked_terms(headline: str | None) -> list[str]:
    """The words ts_headline marked in a headline, each once."""
    terms: list[str] = []
    for term in _MARKED.findall(headline or ""):
        term = term.strip()
        if term and term not in terms:
            terms.append(term)
    return terms


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")
_HEADING = re.compile(r"^\s{0,3}#")
_LIST_MARKER = re.compile(r"^\s*(?:[-+*]|\d+[.)])\s+")


def _sentences(markdown: str, pattern: re.Pattern[str]) -> Iterable[tuple[str, bool]]:
    """The sentences of a markdown text as plain text, each with whether it is a heading; only of the lines
    where the pattern matches (reducing every line to plain text costs more than the search)."""
    for line in markdown.splitlines():
        if not pattern.search(line):
            continue
        text = plain_text(_LIST_MARKER.sub("", line))
        heading = bool(_HEADING.match(line))
        for sentence in _SENTENCE_END.split(text):
            if sentence.strip():
                yield sentence.strip(), heading


def _pattern(terms: Iterable[str], *, whole_words: bool) -> re.Pattern[str] | None:
    # Longest first, so a term inside a longer one does not take its place.
    alternatives = "|".join(re.escape(term) for term in sorted(set(terms), key=len, reverse=True) if term)
    if not alternatives:
        return None
    if whole_words:
        alternatives = rf"(?<!\w)(?:{alternatives})(?!\w)"
    return re.compile(alternatives, re.IGNORECASE)


def matched_sentence(markdown: str, terms: Iterable[str], *, whole_words: bool) -> Markup | None:
    """The sentence of a markdown text that holds the most of the terms (a paragraph's before a heading's),
    shortened around its first match to about SNIPPET_LENGTH characters, as HTML: everything escaped, each
    match in <mark>. None when no sentence holds a term. The sentence is plain_text of its line, so it reads
    as the text that was searched, with the case the author wrote.
    """
    terms = {term.casefold() for term in terms}
    pattern = _pattern(terms, whole_words=whole_words)
    if pattern is None:
        return None
    wanted = len(terms)
    best: tuple[int, bool, str] | None = None  # (distinct terms, not a heading, sentence)
    for sentence, heading in _sentences(markdown, pattern):
        found = {match.casefold() for match in pattern.findall(sentence)}
        if found and (best is None or (len(found), not heading) > best[:2]):
            best = (len(found), not heading, sentence)
            if best[:2] == (wanted, True):
                break
    if best is None:
        return None
    return _marked(_shortened(best[2], pattern), pattern)


def _shortened(sentence: str, pattern: re.Pattern[str]) -> str:
    if len(sentence) <= SNIPPET_LENGTH:
        return sentence
    first = pattern.search(sentence)
    start = max(0, first.start() - SNIPPET_LEAD) if first else 0
    if start:
        space = sentence.find(" ", start, first.start() if first else None)
        start = space + 1 if space != -1 else start
    end = start + SNIPPET_LENGTH
    if end < len(sentence):
        space = sentence.rfind(" ", first.end() if first else start, end)
        end = space if space != -1 else end
    return ("…" if start else "") + sentence[start:end].strip() + ("…" if end < len(sentence) else "")


def _marked(text: str, pattern: re.Pattern[str]) -> Markup:
    parts: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        parts.append(escape(text[position : match.start()]))
        parts.append(Markup("<mark>{}</mark>").format(match.group()))
        position = match.end()
    parts.append(escape(text[position:]))
    return Markup("").join(parts)
