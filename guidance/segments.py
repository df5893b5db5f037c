"""Sentence-level translation state: which segments of a translation still translate the English.

Pure Python, no Django: a translation's segments (the English each was made from, and its translation) are
compared with the article's current English sentences. A segment whose English is unchanged, once
whitespace, non-breaking spaces and markup that does not change the words are set aside, stays current;
one whose English changed is outdated (its old translation kept, the new English beside it); a new English
sentence is missing; a sentence no longer in the English is dropped. See docs/guidance-segments.md.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

CURRENT = "current"
OUTDATED = "outdated"
MISSING = "missing"
# An old segment whose English sentence is gone: not counted, but its translation is still in the body, so a
# page shows it marked as outdated (with no new English).
DROPPED = "dropped"

# Below this similarity (0-100) a changed English sentence is not the same sentence rewritten but a new one.
PAIRING_SCORE = 60.0

_TAG = re.compile(r"<[^<>]*>")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|(?<!\w)[*_]|[*_](?!\w)|`")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")


def normalise(text: str) -> str:
    """The words of a sentence: NFC, without tags, link targets, emphasis, heading or list markers, and with
    every run of whitespace (non-breaking spaces too) one space."""
    text = unicodedata.normalize("NFC", text).replace("\xa0", " ")
    text = _TAG.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    text = _HEADING.sub("", _BULLET.sub("", text.strip()))
    return " ".join(text.split())


def similarity(a: str, b: str) -> float:
    """How alike two sentences' words are, 0 to 100."""
    return fuzz.ratio(normalise(a), normalise(b))


@dataclass(frozen=True)
class English:
    """One sentence of the article's current English."""

    id: str
    text: str


@dataclass(frozen=True)
class Old:
    """One translated segment as stored: the English it was made from and its translation."""

    id: str
    source: str
    target: str


@dataclass(frozen=True)
class State:
    """A segment after comparison: its state, the English it was made from (empty when missing), the
    current English, and the translation (empty when missing)."""

    id: str
    state: str
    source: str
    english: str
    target: str


def compare(english: Sequence[English], old: Sequence[Old]) -> list[State]:
    """The segments of a translation against the current English, in the English's order.

    Segments are matched in order (a diff of the normalised sentences): an equal sentence is current; within a
    changed stretch each new English sentence takes the most alike old segment that keeps the order, if it is
    at least PAIRING_SCORE alike (outdated), else it is missing; old segments left over are dropped (kept in
    place, as their translation still stands in the body)."""
    old = [segment for segment in old if segment.target.strip()]
    new_words = [normalise(e.text) for e in english]
    old_words = [normalise(o.source) for o in old]
    matcher = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    states: list[State] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for o, e in zip(old[i1:i2], english[j1:j2], strict=True):
                states.append(State(o.id, CURRENT, o.source, e.text, o.target))
            continue
        states.extend(_pair(english[j1:j2], old[i1:i2]))
    return states


def _pair(english: Sequence[English], old: Sequence[Old]) -> list[State]:
    """Pair a changed stretch of English with the old segments it replaced: the pairs, in both orders, that
    are most alike in all (each at least PAIRING_SCORE alike); English left unpaired is missing."""
    scores = [[similarity(e.text, o.source) for o in old] for e in english]
    rows, columns = len(english), len(old)
    best = [[0.0] * (columns + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, columns + 1):
            paired = (
                best[i - 1][j - 1] + scores[i - 1][j - 1] if scores[i - 1][j - 1] >= PAIRING_SCORE else -1.0
            )
            best[i][j] = max(best[i - 1][j], best[i][j - 1], paired)
    pairs: dict[int, int] = {}
    i, j = rows, columns
    while i and j:
        score = scores[i - 1][j - 1]
        if score >= PAIRING_SCORE and best[i][j] == best[i - 1][j - 1] + score:
            pairs[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    # In the order a page places them: the translations still in the body in their order, each missing
    # sentence after the translation before it (after those dropped in the same stretch).
    states: list[State] = []
    waiting: list[State] = []
    next_old = 0
    for index, e in enumerate(english):
        if index not in pairs:
            waiting.append(State(e.id, MISSING, "", e.text, ""))
            continue
        paired = pairs[index]
        states.extend(_dropped(old[next_old:paired]))
        states.extend(waiting)
        waiting = []
        o = old[paired]
        states.append(State(o.id, OUTDATED, o.source, e.text, o.target))
        next_old = paired + 1
    states.extend(_dropped(old[next_old:]))
    states.extend(waiting)
    return states


def _dropped(old: Sequence[Old]) -> list[State]:
    return [State(o.id, DROPPED, o.source, "", o.target) for o in old]


def counts(states: Sequence[State]) -> dict[str, int]:
    """How many segments are in each state."""
    result = {CURRENT: 0, OUTDATED: 0, MISSING: 0}
    for state in states:
        if state.state in result:
            result[state.state] += 1
    return result


# --- The English after an edit ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


def _tokens(text: str) -> list[tuple[str, int]]:
    return [(m.group(0), m.start()) for m in _TOKEN.finditer(text)]


def _locate(body: str, sentences: Sequence[English]) -> list[tuple[English, int, int]]:
    """Where each sentence stands in body, in order; a sentence not found there is left out."""
    found = []
    cursor = 0
    for sentence in sentences:
        at = body.find(sentence.text, cursor) if sentence.text else -1
        if at < 0:
            continue
        found.append((sentence, at, at + len(sentence.text)))
        cursor = at + len(sentence.text)
    return found


def _new_sentence_id(text: str, taken: set[str]) -> str:
    base = "en-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    sentence_id, n = base, 1
    while sentence_id in taken:
        sentence_id, n = f"{base}-{n}", n + 1
    return sentence_id


def _inserted_sentences(text: str) -> list[str]:
    """The sentences of text an edit added: its lines with words, without list or heading marks."""
    lines = []
    for line in text.split("\n"):
        line = _HEADING.sub("", _BULLET.sub("", line)).strip()
        if normalise(line) and any(ch.isalnum() for ch in line):
            lines.append(line)
    return lines


def english_after_edit(old_body: str, new_body: str, sentences: Sequence[English]) -> list[English]:
    """The English sentences of new_body, an edit of old_body whose sentences were given: each old sentence
    followed through a word diff to the text that now stands in its place (an old sentence whose text was
    all deleted is gone), and each line of words the edit added between sentences a new sentence."""
    located = _locate(old_body, sentences)
    old_tokens, new_tokens = _tokens(old_body), _tokens(new_body)
    matcher = difflib.SequenceMatcher(
        None, [t for t, _ in old_tokens], [t for t, _ in new_tokens], autojunk=False
    )
    old_starts = [start for _, start in old_tokens] + [len(old_body)]
    new_starts = [start for _, start in new_tokens] + [len(new_body)]
    opcodes = matcher.get_opcodes()

    def token_at(offset: int) -> int:
        # the index of the token that starts at offset (sentences start and end on token boundaries mostly)
        lo, hi = 0, len(old_starts) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if old_starts[mid] < offset:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def mapped(index: int, *, end: bool) -> int:
        """The new token index an old token boundary maps to (the start or the end of a sentence)."""
        for tag, i1, i2, j1, j2 in opcodes:
            if tag == "insert":
                continue  # text added at a sentence's edge is a sentence of its own
            if (i1 < index <= i2) if end else (i1 <= index < i2):
                if tag == "equal":
                    return j1 + (index - i1)
                return j2 if end else j1
        return len(new_tokens)

    result: list[English] = []
    taken = {sentence.id for sentence in sentences}
    covered: list[tuple[int, int]] = []  # old token ranges that belong to a sentence
    for sentence, start, stop in located:
        first, last = token_at(start), token_at(stop)
        covered.append((first, last))
        text = new_body[new_starts[mapped(first, end=False)] : new_starts[mapped(last, end=True)]].strip()
        following: list[str] = []
        if "\n" not in sentence.text and "\n" in text:
            # A sentence stays on its line: lines the diff ran into it are sentences the edit added.
            text, rest = text.split("\n", 1)
            following = _inserted_sentences(rest)
        if normalise(text):
            result.append(English(sentence.id, text.strip()))
        for line in following:
            added = English(_new_sentence_id(line, taken), line)
            taken.add(added.id)
            result.append(added)
    # Added text outside every sentence becomes new sentences, placed after the sentence before it.
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "insert":
            inside = any(first < i1 < last for first, last in covered)
        elif tag == "replace":
            inside = any(first < i2 and i1 < last for first, last in covered)
        else:
            continue
        if inside:
            continue  # a change within a sentence: followed above
        position = _position_after(result, located, sum(1 for first, _last in covered if first < i1))
        for offset, line in enumerate(_inserted_sentences(new_body[new_starts[j1] : new_starts[j2]])):
            sentence = English(_new_sentence_id(line, taken), line)
            taken.add(sentence.id)
            result.insert(position + offset, sentence)
    return result


def _position_after(result: list[English], located: list[tuple[English, int, int]], before: int) -> int:
    """The index in result just after the last of the first `before` located sentences still there."""
    ids = [sentence.id for sentence, _start, _stop in located[:before]]
    for sentence_id in reversed(ids):
        for index, sentence in enumerate(result):
            if sentence.id == sentence_id:
                return index + 1
    return 0
