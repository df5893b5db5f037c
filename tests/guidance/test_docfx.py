"""Unit tests for the DocFX localized markdown parser (no Django needed)."""

from __future__ import annotations

import datetime
import pickle
import time
from pathlib import Path

import pytest
import yaml

from guidance.docfx import (
    LOCALE_TO_LANGUAGE,
    DocfxError,
    ParsedArticle,
    Segment,
    _node_text,
    locale_from_path,
    parse_article,
    parse_file,
    repository_locale,
    slug_from_path,
)

CONTENT = Path(__file__).resolve().parents[2] / "guidance" / "content"
LEFTOVERS = ("data-ttu-id", "data-stu-id", "sxs-lookup", "HONumber")
JA_FRONT = "---\ntitle: T\nms.contentlocale: ja-jp\n---\n"


def pair(segment_id: str, target: str, source: str) -> str:
    """Build one aligned DocFX span pair."""
    return (
        f'<span data-ttu-id="{segment_id}">{target}</span>'
        f'<span class="sxs-lookup"><span data-stu-id="{segment_id}">{source}</span></span>'
    )


def article(
    body: str, *, front: str = "title: T\nms.contentlocale: zh-tw\n", path: str = "a.md"
) -> ParsedArticle:
    """Parse a small inline article with the given front matter and body."""
    return parse_article(f"---\n{front}---\n{body}", path=path)


def parse_error(text: str | bytes, *, path: str = "doc.md", **kwargs: str) -> DocfxError:
    """Parse text that must fail and return the error."""
    with pytest.raises(DocfxError) as caught:
        parse_article(text, path=path, **kwargs)
    return caught.value


def all_text(parsed: ParsedArticle) -> list[str]:
    """Every piece of text the parser hands to its callers."""
    texts = [parsed.body, parsed.source_body or "", parsed.title, parsed.description]
    texts += [parsed.source_title or "", parsed.source_description or ""]
    texts += [text for segment in parsed.segments for text in (segment.source, segment.target)]
    return texts


# --- the five real content files -------------------------------------------------------------

CONTENT_FILES = {
    "global/provide-billing-support.zh-tw.md": {
        "segments": 20,
        "locale": "zh-tw",
        "language": "zh-hant",
        "cloud": "global",
        "translation_type": "human",
        "source_hash": "d9f550f05d1555781ddd29c8d1eb95297a9e9a53",
        "source_commit": "0b00306bfb0b406e64ad857cb360de4533740e6a",
        "asset_id": "DE0942BB-A0D0-4CF9-A60E-0BD095692C26",
        "date": None,
        "handoff_date": None,
        "title": "提供帳單支援 | 合作夥伴中心",
        "source_title": "Provide billing support",
        "source_description": (
            "You own the billing relationship with your customers and fully support "
            "any billing-related questions from your customers."
        ),
        "samples": [
            ("9f56c-115", 32, "您有責任向 Microsoft 付款。", "You are responsible for payment to Microsoft."),
            (
                "9f56c-119",
                39,
                "[代表客戶報告問題](report-problems-on-behalf-of-a-customer.md)以提出任何帳單問題或爭議。",
                "[Report problems on behalf of a customer](report-problems-on-behalf-of-a-customer.md)"
                " to raise any billing questions or disputes.",
            ),
        ],
    },
    "global/provide-billing-support.ja-jp.md": {
        "segments": 20,
        "locale": "ja-jp",
        "language": "ja",
        "cloud": "global",
        "translation_type": "human",
        "source_hash": "d9f550f05d1555781ddd29c8d1eb95297a9e9a53",
        "source_commit": "0b00306bfb0b406e64ad857cb360de4533740e6a",
        "asset_id": "DE0942BB-A0D0-4CF9-A60E-0BD095692C26",
        "date": None,
        "handoff_date": None,
        "title": "請求に関するサポートの提供 | パートナー センター",
        "source_title": "Provide billing support",
        "source_description": (
            "You own the billing relationship with your customers and fully support "
            "any billing-related questions from your customers."
        ),
        "samples": [
            (
                "38f41-108",
                19,
                "パートナーは、顧客との請求関係に責任を負い、請求に関する顧客からのすべての質問に十分に対応する必要があります。",
                "You own the billing relationship with your customers and fully support "
                "any billing-related questions from your customers.",
            ),
            (
                "38f41-117",
                34,
                "必要に応じて、未払いのサブスクリプションについては、お客様のアクセスを無効にすることができます。",
                "If necessary, you can disable your customer's access to the subscription for non-payment.",
            ),
        ],
    },
    "global/provide-billing-support.ru-ru.md": {
        "segments": 0,
        "locale": "ru-ru",
        "language": "ru",
        "cloud": None,
        "translation_type": "human",
        "source_hash": "a442cb3b47303fd5a03999b9a22f4ab33aa8a15b",
        "source_commit": "14ba85c868e59dd1c77063f5b1b0e9ab8db7f82f",
        "asset_id": "DE0942BB-A0D0-4CF9-A60E-0BD095692C26",
        "date": None,
        "handoff_date": None,
        "title": "Предоставление поддержки выставления счетов | Центр партнеров",
        "source_title": None,
        "source_description": None,
        "samples": [],
    },
    "global/provide-billing-support.zh-cn.md": {
        "segments": 33,
        "locale": "zh-cn",
        "language": "zh-hans",
        "cloud": None,
        "translation_type": "machine",
        "source_hash": "11a17550ed5c0ab2154ec0daa03818236b26e820",
        "source_commit": "1a0c83e2089cb58221bdb24525127378f5197ea8",
        "asset_id": None,
        "date": datetime.date(2020, 6, 5),
        "handoff_date": datetime.date(2021, 1, 14),
        "title": "向客户提供计费支持",
        "source_title": "Provide billing support for your customers and help answer their billing questions",
        "source_description": (
            "You own the billing relationship with your customers, and you're responsible for "
            "answering the billing-related questions your customers might have."
        ),
        "samples": [
            (
                "4e4a7-117",
                40,
                "通过支持触点合作伙伴可以进一步了解客户及其业务，从而发现能够驱动价值的新的服务和解决方案。",
                "Through support touch points partners can learn more about the customer, and their business,"
                " to identify new services and solutions that drive value.",
            ),
            (
                "4e4a7-124",
                49,
                "**商业** 问题支持可用于云解决方案提供商计划中的所有合作伙伴",
                "**Commercial** issue support is available to all partners in the CSP program",
            ),
        ],
    },
    "21vianet/provide-billing-support.zh-tw.md": {
        "segments": 14,
        "locale": "zh-tw",
        "language": "zh-hant",
        "cloud": "21vianet",
        "translation_type": "human",
        "source_hash": "a345a5594fd0f8cc58910863a7162b96eec37f17",
        "source_commit": "b1ab80345b4e4af649fb8cc51d96d798e0791ade",
        "asset_id": None,
        "date": datetime.date(2018, 10, 29),
        "handoff_date": datetime.date(2019, 4, 23),
        "title": "提供計費支援 （由 21Vianet 運作的合作夥伴中心）",
        "source_title": "Provide billing support",
        "source_description": (
            "You own the billing relationship with your customers and fully support "
            "any billing-related questions from your customers."
        ),
        "samples": [
            ("80794-107", 23, "您負責的款項匯到 21Vianet。", "You are responsible for payment to 21Vianet."),
            ("80794-114", 34, "未付款、詐騙或濫用", "Non-payment, fraud, or misuse"),
        ],
    },
}


@pytest.fixture(params=sorted(CONTENT_FILES), ids=lambda name: name.replace("/", "-"))
def content(request: pytest.FixtureRequest) -> tuple[Path, dict, ParsedArticle]:
    """Each real content file with its expectations and parse result."""
    path = CONTENT / request.param
    return path, CONTENT_FILES[request.param], parse_file(path)


def test_segments_counted_in_every_content_file_match_the_span_pairs(content):
    """Every data-ttu-id span in a content file becomes exactly one segment."""
    path, expected, parsed = content
    raw = path.read_text(encoding="utf-8")
    assert raw.count("data-ttu-id=") == raw.count("data-stu-id=") == expected["segments"]
    assert len(parsed.segments) == expected["segments"]
    assert parsed.has_spans is (expected["segments"] > 0)
    assert len({segment.id for segment in parsed.segments}) == len(parsed.segments)


def test_segments_of_content_files_are_in_document_order(content):
    """Segments come out sorted by line and with their id's number increasing."""
    _, _, parsed = content
    lines = [segment.line for segment in parsed.segments]
    numbers = [int(segment.id.split("-")[1]) for segment in parsed.segments]
    assert lines == sorted(lines)
    assert numbers == sorted(numbers)


def test_content_files_report_locale_slug_and_revision_metadata(content):
    """Locale, language, slug, cloud, translation type, hashes and dates come from each file."""
    _, expected, parsed = content
    assert parsed.locale == expected["locale"]
    assert parsed.language == expected["language"]
    assert parsed.slug == "provide-billing-support"
    assert parsed.cloud == expected["cloud"]
    assert parsed.translation_type == expected["translation_type"]
    assert parsed.source_hash == expected["source_hash"]
    assert parsed.source_commit == expected["source_commit"]
    assert parsed.asset_id == expected["asset_id"]
    assert parsed.date == expected["date"]
    assert parsed.handoff_date == expected["handoff_date"]
    assert parsed.revision_date == (expected["handoff_date"] or expected["date"])


def test_content_files_give_translated_and_english_titles(content):
    """The translated title comes from front matter and the English one from the H1 segment."""
    _, expected, parsed = content
    assert parsed.title == expected["title"]
    assert parsed.source_title == expected["source_title"]
    assert parsed.source_description == expected["source_description"]
    assert parsed.description == parsed.metadata["description"]


def test_segments_pair_translation_with_english_source(content):
    """Sample segments carry the translation and its English source, each in its own body."""
    _, expected, parsed = content
    by_id = {segment.id: segment for segment in parsed.segments}
    for segment_id, line, target, source in expected["samples"]:
        assert by_id[segment_id] == Segment(id=segment_id, source=source, target=target, line=line)
        assert target in parsed.body
        assert source not in parsed.body
        assert parsed.source_body is not None
        assert source in parsed.source_body
        assert target not in parsed.source_body


def test_no_span_markup_or_honumber_remains_in_content_files(content):
    """No DocFX span attribute or HONumber comment survives anywhere in the result."""
    _, _, parsed = content
    for text in all_text(parsed):
        for leftover in LEFTOVERS:
            assert leftover not in text


def test_content_file_bodies_are_trimmed_with_unix_line_endings(content):
    """Bodies lose the front matter and trailing blank lines and end with one newline."""
    _, _, parsed = content
    for body in filter(None, [parsed.body, parsed.source_body]):
        assert not body.startswith("---")
        assert body.endswith("\n")
        assert not body.endswith("\n\n")
        assert "\r" not in body
        assert body.startswith("# ")


def test_russian_file_without_spans_keeps_its_text_and_has_no_english():
    """The plain Russian translation yields its body, no segments and no English side."""
    parsed = parse_file(CONTENT / "global/provide-billing-support.ru-ru.md")
    assert parsed.segments == []
    assert parsed.source_body is None
    assert parsed.body.startswith("# Предоставление поддержки выставления счетов\n")
    assert "-   Вы несете ответственность за оплату в Майкрософт.\n" in parsed.body
    assert (
        "Вам должны связаться с клиентом и закрыть дискуссию, как только проблема будет решена" in parsed.body
    )
    assert parsed.body.endswith("как только проблема будет решена\n")
    assert parsed.metadata["translationtype"] == "Human Translation"


def test_heading_anchors_are_kept_on_both_sides():
    """Anchors inside and before heading spans stay exactly as written in both bodies."""
    parsed = parse_file(CONTENT / "global/provide-billing-support.zh-tw.md")
    assert parsed.body.startswith('# <a name="provide-billing-support"></a>提供帳單支援\n')
    assert '## <a href="" id="microsoftresources"></a>Microsoft 資源\n' in parsed.body
    assert parsed.source_body is not None
    assert '## <a href="" id="microsoftresources"></a>Microsoft resources\n' in parsed.source_body


def test_zh_cn_note_roles_and_nested_list_resolve_on_both_sides():
    """The machine-translated file resolves its NOTE alert, bold labels and nested list."""
    parsed = parse_file(CONTENT / "global/provide-billing-support.zh-cn.md")
    assert parsed.source_body is not None
    assert ">[!Note]\n>If you are not a CSP and have questions about customer billing" in parsed.source_body
    assert ">[!Note]\n>如果你不是 CSP" in parsed.body
    assert "\n**Appropriate roles**\n" in parsed.source_body
    assert "\n  - Premier Support for Partners (fee base)\n" in parsed.source_body
    assert "\n  - 合作伙伴顶级支持（收费）\n" in parsed.body
    assert "- [Provide technical support](provide-technical-support.md)\n" in parsed.source_body


def test_twenty_one_vianet_file_keeps_bold_inside_the_span():
    """Bold written inside the span halves stays part of each half."""
    parsed = parse_file(CONTENT / "21vianet/provide-billing-support.zh-tw.md")
    applies = next(segment for segment in parsed.segments if segment.id == "80794-104")
    assert (applies.target, applies.source) == ("**適用於**", "**Applies to**")
    assert "\n-   [Customer support](customer-support.md)\n" in (parsed.source_body or "")


# --- positive inline cases ------------------------------------------------------------------


def test_crlf_and_mixed_line_endings_are_normalised():
    """CRLF, lone CR and LF all become LF and line numbers count each break once."""
    text = (
        b"---\r\ntitle: T\rms.contentlocale: ja-jp\n---\r\n# H\r\r"
        + pair("abcde-1", "訳", "Source").encode()
        + b"\r\n"
    )
    parsed = parse_article(text, path="a.md")
    assert parsed.body == "# H\n\n訳\n"
    assert parsed.source_body == "# H\n\nSource\n"
    assert parsed.segments[0].line == 7
    assert parsed.metadata["title"] == "T"


def test_bom_is_stripped_from_bytes_and_text():
    """A leading UTF-8 byte order mark does not hide the front matter."""
    text = "---\ntitle: T\nms.contentlocale: ja-jp\n---\nbody\n"
    assert parse_article(b"\xef\xbb\xbf" + text.encode(), path="a.md").body == "body\n"
    assert parse_article("\ufeff" + text, path="a.md").body == "body\n"


def test_nbsp_only_lines_become_blank_and_indentation_nbsp_becomes_space():
    """NBSP-only lines empty out, NBSP indentation and list gaps become spaces, prose NBSP stays."""
    body = "# H\n\xa0\n\xa0 \xa0\n-\xa0item one\n\xa0\xa0- nested\nprose\xa0kept\n\n\xa0\n"
    parsed = article(body)
    assert parsed.body == "# H\n\n\n- item one\n  - nested\nprose\xa0kept\n"


def test_several_segments_on_one_line_are_split_in_order():
    """Three span pairs on one line become three segments on that line."""
    line = " ".join(pair(f"abcde-{n}", f"訳{n}。", f"Sentence {n}.") for n in (1, 2, 3))
    parsed = article(f"# H\n\n{line}\n")
    assert [segment.id for segment in parsed.segments] == ["abcde-1", "abcde-2", "abcde-3"]
    assert {segment.line for segment in parsed.segments} == {7}
    assert parsed.body == "# H\n\n訳1。 訳2。 訳3。\n"
    assert parsed.source_body == "# H\n\nSentence 1. Sentence 2. Sentence 3.\n"


def test_spans_in_a_table_row_resolve_cell_by_cell():
    """Span pairs inside table cells are replaced without disturbing the pipes."""
    row = f"| {pair('abcde-1', '角色', 'Role')} | {pair('abcde-2', '權限', 'Permission')} |"
    parsed = article(f"# H\n\n| a | b |\n|---|---|\n{row}\n")
    assert parsed.body.endswith("| 角色 | 權限 |\n")
    assert parsed.source_body is not None
    assert parsed.source_body.endswith("| Role | Permission |\n")
    assert parsed.source_description is None


def test_spans_inside_link_text_keep_the_link_target():
    """A span pair used as link text leaves the link around the chosen language."""
    parsed = article(f"# H\n\n- [{pair('abcde-1', '客戶支援', 'Customer support')}](customer-support.md)\n")
    assert parsed.body == "# H\n\n- [客戶支援](customer-support.md)\n"
    assert parsed.source_body == "# H\n\n- [Customer support](customer-support.md)\n"


def test_spans_inside_a_note_blockquote_resolve():
    """A span pair after the '>' of a NOTE alert is resolved in place."""
    parsed = article(f"# H\n\n>[!NOTE]\n>{pair('abcde-1', '注意文字', 'Note text')}\n")
    assert parsed.body == "# H\n\n>[!NOTE]\n>注意文字\n"
    assert parsed.source_body == "# H\n\n>[!NOTE]\n>Note text\n"
    assert parsed.segments[0].line == 8


def test_nested_list_items_keep_their_indentation():
    """Span pairs in nested list items keep each item's marker and indentation."""
    body = (
        f"# H\n\n- {pair('abcde-1', '外層', 'Outer')}\n"
        f"  - {pair('abcde-2', '內層', 'Inner')}\n"
        f"    1. {pair('abcde-3', '最內層', 'Innermost')}\n"
    )
    parsed = article(body)
    assert parsed.source_body == "# H\n\n- Outer\n  - Inner\n    1. Innermost\n"
    assert parsed.body == "# H\n\n- 外層\n  - 內層\n    1. 最內層\n"


def test_heading_with_anchor_inside_the_span_keeps_the_anchor():
    """An anchor inside both halves of a heading span stays in each body but not in the titles."""
    heading = pair("abcde-1", '<a href="" id="billing"></a>帳單', '<a href="" id="billing"></a>Billing')
    parsed = article(f"# {heading}\n\ntext\n", front="ms.contentlocale: zh-tw\n")
    assert parsed.body.startswith('# <a href="" id="billing"></a>帳單\n')
    assert parsed.segments[0].source == '<a href="" id="billing"></a>Billing'
    assert parsed.title == "帳單"
    assert parsed.source_title == "Billing"


def test_bold_boundaries_may_differ_between_the_halves():
    """Machine translation may move bold markup, and each half keeps its own."""
    parsed = article(f"# H\n\n{pair('abcde-1', '**商業**問題', '**Commercial issue** support')}\n")
    assert parsed.segments[0].target == "**商業**問題"
    assert parsed.segments[0].source == "**Commercial issue** support"


def test_nested_plain_span_inside_a_segment_is_kept_whole():
    """A plain span inside segment text is counted, not mistaken for the segment's end."""
    segment = pair("abcde-p1", '按 <span class="k">Ctrl</span> 鍵', "Press <span>Ctrl</span>")
    parsed = article(f"# H\n\n{segment}\n")
    assert parsed.segments[0] == Segment(
        id="abcde-p1", target='按 <span class="k">Ctrl</span> 鍵', source="Press <span>Ctrl</span>", line=7
    )
    assert parsed.source_body == "# H\n\nPress <span>Ctrl</span>\n"


def test_old_style_front_matter_takes_locale_from_the_path():
    """Keys without 'ms.' are normalised and the locale comes from the folder name."""
    front = (
        'title: "Старое"\nTranslationType: Human Translation\nopenlocfilehash: 0a1b\n'
        "ms.openlocfilehash: 00ff\nms.date: 2019-02-03\n"
    )
    parsed = article(
        "# Заголовок\n\nТекст.\n<!--HONumber=Nov16_HO4-->\n", front=front, path="docs/ru-ru/old-page.md"
    )
    assert parsed.locale == "ru-ru"
    assert parsed.language == "ru"
    assert parsed.slug == "old-page"
    assert parsed.translation_type == "human"
    assert parsed.source_hash == "00ff"
    assert parsed.date == datetime.date(2019, 2, 3)
    assert parsed.body == "# Заголовок\n\nТекст.\n"
    assert parsed.cloud is None


def test_locale_argument_is_used_when_file_and_path_are_silent():
    """Without ms.contentlocale or a locale in the path, the locale argument decides."""
    parsed = parse_article("---\ntitle: T\n---\nbody\n", path="page.md", locale="ZH-CN", slug="custom")
    assert (parsed.locale, parsed.language, parsed.slug) == ("zh-cn", "zh-hans", "custom")


def test_unknown_locale_folder_defers_to_the_locale_argument():
    """A locale-shaped folder outside the table gives way to an explicit locale argument."""
    text = "---\ntitle: T\n---\nbody\n"
    assert parse_article(text, path="de-de/page.md", locale="ja").locale == "ja"
    assert parse_error(text, path="de-de/page.md").message.startswith("unknown locale 'de-de'")


def test_metadata_values_are_kept_as_exact_strings():
    """Scalars that YAML would turn into numbers, booleans or dates stay as written."""
    front = (
        "title: T\nms.contentlocale: ja-jp\nms.custom: yes\nms.locfileid: 0123\nms.topic:\nms.list: [a, b]\n"
    )
    parsed = article("body\n", front=front)
    assert parsed.metadata["custom"] == "yes"
    assert parsed.metadata["locfileid"] == "0123"
    assert parsed.metadata["topic"] == ""
    assert parsed.metadata["list"] == "a, b"


def test_title_falls_back_to_the_translated_h1():
    """A file without a front matter title takes the H1 of the translation."""
    heading = pair("abcde-1", "提供帳單支援", "Provide billing support")
    parsed = article(f'# <a name="x"></a>{heading}\n\ntext\n', front="ms.contentlocale: zh-tw\n")
    assert parsed.title == "提供帳單支援"
    assert parsed.source_title == "Provide billing support"


def test_source_description_matches_the_segment_of_the_translated_description():
    """The English description is the source of the segment whose text is the description."""
    front = "title: T\ndescription: 第二段。\nms.contentlocale: zh-tw\n"
    body = f"# H\n\n{pair('abcde-1', '第一段。', 'First.')}\n\n{pair('abcde-2', '第二段。', 'Second.')}\n"
    assert article(body, front=front).source_description == "Second."


def test_source_description_joins_consecutive_segments_of_a_two_sentence_description():
    """A description made of two sentences on one line maps to both English sentences."""
    front = "title: T\ndescription: 第一句。 第二句。\nms.contentlocale: zh-cn\n"
    line = f"{pair('abcde-1', '第一句。', 'One.')} {pair('abcde-2', '第二句。', 'Two.')}"
    assert article(f"# H\n\n{line}\n", front=front).source_description == "One. Two."


def test_source_description_skips_bold_labels_and_headings():
    """Without a matching description, the first plain paragraph segment is used."""
    body = (
        f"# {pair('abcde-1', '標題', 'Title')}\n\n{pair('abcde-2', '**角色**', '**Roles**')}\n\n"
        f"- {pair('abcde-3', '項目', 'Item')}\n\n{pair('abcde-4', '內文。', 'Body text.')}\n"
    )
    assert article(body).source_description == "Body text."


def test_cloud_is_21vianet_when_the_applies_to_block_names_it():
    """An 'Applies to' list naming 21Vianet marks the 21Vianet cloud, otherwise global."""
    label = pair("abcde-1", "**適用於**", "**Applies to**")
    china = article(f"# H\n\n{label}\n\n- {pair('abcde-2', '由 21Vianet 營運', 'Operated by 21Vianet')}\n")
    world = article(
        f"# H\n\n{label}\n\n- {pair('abcde-2', '合作夥伴中心', 'Partner Center')}\n\nLater 21Vianet.\n"
    )
    assert china.cloud == "21vianet"
    assert world.cloud == "global"


def test_translation_type_names_are_mapped():
    """HT and MT codes and their long names map to human and machine."""
    for value, expected in [
        ("HT", "human"),
        ("MT", "machine"),
        ("Machine Translation", "machine"),
        ("??", None),
    ]:
        parsed = article("body\n", front=f"title: T\nms.contentlocale: ja-jp\nms.translationtype: {value}\n")
        assert parsed.translation_type == expected


def test_revision_date_is_the_later_of_date_and_handoff():
    """revision_date prefers whichever of ms.date and ms.lasthandoff is later."""
    front = "title: T\nms.contentlocale: ja-jp\nms.date: 05/06/2021\nms.lasthandoff: 01/02/2021\n"
    assert article("body\n", front=front).revision_date == datetime.date(2021, 5, 6)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("x/zh-tw/a.md", "zh-tw"),
        ("a.ja-jp.md", "ja-jp"),
        ("ru-ru/a.md", "ru-ru"),
        ("content/global/provide-billing-support.zh-CN.md", "zh-cn"),
        ("docs\\ja\\page.md", "ja"),
        ("de-de/a.md", "de-de"),
        ("docs/a.md", None),
        ("go/a.md", None),
        ("ui-kit/a.md", None),
        ("global/a.md", None),
    ],
)
def test_locale_from_path_finds_suffix_or_folder(path, expected):
    """The locale comes from the file-name suffix, else the nearest locale-shaped folder."""
    assert locale_from_path(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("provide-billing-support.zh-tw.md", "provide-billing-support"),
        ("content/global/a.ja-jp.md", "a"),
        ("x/zh-tw/page.md", "page"),
        ("page.ru", "page"),
        ("v1.2-notes.md", "v1.2-notes"),
        ("x.md.md", "x.md"),
    ],
)
def test_slug_from_path_drops_extension_and_locale(path, expected):
    """The slug is the file stem without extension (stripped once) or locale suffix; parse_article then
    refuses the ones that are no slug (v1.2-notes, x.md)."""
    assert slug_from_path(path) == expected


@pytest.mark.parametrize(
    ("path", "slug"),
    [
        ("v1.2-notes.md", "v1.2-notes"),
        ("docs/請求.ja-jp.md", "請求"),
        ("has space.md", "has space"),
    ],
)
def test_file_name_that_gives_no_valid_slug_is_refused_at_line_one(path, slug):
    """A slug must fit the page address (letters, digits, hyphens, underscores); the error names the file."""
    error = parse_error(JA_FRONT + "# H\n\nbody\n", path=path)
    assert (error.path, error.line) == (path, 1)
    assert f"the file name gives the slug '{slug}'" in error.message
    assert "--slug" in error.message


def test_doubled_markdown_extension_is_named_as_such():
    """x.md.md is refused, saying the extension is there twice and what to rename it to."""
    error = parse_error(JA_FRONT + "# H\n\nbody\n", path="docs/x.md.md")
    assert str(error).startswith("docs/x.md.md:1: ")
    assert "'x.md.md' ends in '.md' twice" in error.message
    assert error.message.endswith("rename it to 'x.md'")


@pytest.mark.parametrize("slug", ["bad slug", "a/b", "a.b", "x" * 201])
def test_invalid_slug_argument_is_refused(slug):
    """A slug given as an argument is held to the same rule and the same length limit as the database."""
    error = parse_error(JA_FRONT + "# H\n\nbody\n", path="page.md", slug=slug)
    assert (error.path, error.line) == ("page.md", 1)
    assert "slug" in error.message


@pytest.mark.parametrize("slug", ["a", "provide-billing-support", "Under_score-2", "x" * 200])
def test_valid_slugs_are_kept(slug):
    """Letters, digits, hyphens and underscores, up to 200 characters, are a slug."""
    assert parse_article(JA_FRONT + "body\n", path=f"{slug}.md").slug == slug


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("partner-center-pr.zh-tw/partner-center/a.md", "zh-tw"),
        ("/src/partner-center-pr.ZH-CN/partner-center/billing/a.md", "zh-cn"),
        ("clones/anything.ja-jp/a.md", "ja-jp"),
        ("partner-center-pr.ru-ru/a.md", "ru-ru"),
        ("docs.en-us/a.md", "en-us"),
        ("partner-center-pr.de-de/partner-center/a.md", None),
        ("partner-center-pr.v2/a.md", None),
        ("partner-center-pr/a.md", None),
        ("a.zh-tw.md", None),
        (".ja-jp/a.md", None),
    ],
)
def test_repository_locale_reads_the_suffix_of_a_localized_docs_clone(path, expected):
    """A folder named like Microsoft's localized docs repositories (<name>.<locale>) names a known locale."""
    assert repository_locale(path) == expected


@pytest.mark.parametrize(
    ("locale", "language"),
    [("zh-tw", "zh-hant"), ("zh-cn", "zh-hans"), ("ja-jp", "ja"), ("ru-ru", "ru"), ("en-us", "en")],
)
def test_locale_comes_from_the_repository_folder(locale, language):
    """Without ms.contentlocale or a locale folder, a clone of <name>.<locale> gives the locale."""
    path = f"partner-center-pr.{locale}/partner-center/page.md"
    parsed = parse_article("---\ntitle: T\n---\nbody\n", path=path)
    assert (parsed.locale, parsed.language, parsed.slug) == (locale, language, "page")


def test_locale_argument_wins_over_the_repository_folder():
    """An explicit locale argument decides before a repository name's suffix."""
    path = "partner-center-pr.zh-tw/partner-center/page.md"
    assert parse_article("---\ntitle: T\n---\nbody\n", path=path, locale="ja-jp").language == "ja"


def test_locale_folder_and_declared_locale_win_over_the_repository_folder():
    """A locale folder inside the clone, or ms.contentlocale, is more specific than the clone's name."""
    text = "---\ntitle: T\n---\nbody\n"
    assert parse_article(text, path="repo.zh-tw/ja-jp/page.md").locale == "ja-jp"
    assert parse_article(JA_FRONT + "body\n", path="repo.zh-tw/page.md").locale == "ja-jp"


def test_unknown_repository_suffix_is_ignored():
    """A clone named with a locale the portal does not know says nothing: the usual error asks for one."""
    error = parse_error("---\ntitle: T\n---\nbody\n", path="partner-center-pr.de-de/page.md")
    assert error.message.startswith("cannot tell the locale")


def test_locale_table_maps_every_known_locale_to_a_django_language():
    """Every DocFX locale maps to one of the portal's five languages."""
    assert set(LOCALE_TO_LANGUAGE.values()) == {"en", "zh-hant", "zh-hans", "ja", "ru"}
    assert LOCALE_TO_LANGUAGE["zh-tw"] == "zh-hant"
    assert LOCALE_TO_LANGUAGE["en-us"] == "en"


def test_error_string_names_path_and_line_and_survives_pickling():
    """DocfxError prints as PATH:LINE: message and round-trips through pickle."""
    error = DocfxError("bad", path="x.md", line=3)
    assert str(error) == "x.md:3: bad"
    assert str(DocfxError("bad", path="x.md")) == "x.md: bad"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.path, copy.line) == ("bad", "x.md", 3)


# --- malformed input ------------------------------------------------------------------------


def test_truncated_front_matter_is_rejected():
    """Front matter without its closing '---' is reported at the end of the file."""
    error = parse_error("---\ntitle: T\nms.contentlocale: ja-jp\n")
    assert "never closed" in error.message
    assert error.line == 3


def test_missing_front_matter_is_rejected_at_line_one():
    """A file that does not start with '---' is reported at line 1."""
    error = parse_error("# Just markdown\n")
    assert error.line == 1
    assert str(error).startswith("doc.md:1: no front matter")


def test_yaml_syntax_error_reports_the_file_line():
    """A YAML error is reported on its line counted from the top of the file."""
    error = parse_error("---\ntitle: T\ndescription: a: b\nms.contentlocale: ja-jp\n---\nbody\n")
    assert error.line == 3
    assert "not valid YAML" in error.message


def test_front_matter_that_is_not_a_mapping_is_rejected():
    """A YAML list in the front matter is not accepted."""
    assert parse_error("---\n- a\n- b\n---\nbody\n").line == 2


def test_span_without_lookup_twin_reports_its_line():
    """A data-ttu-id span not followed by its sxs-lookup twin is reported on its line."""
    error = parse_error(
        '---\ntitle: T\nms.contentlocale: ja-jp\n---\n# H\n\n<span data-ttu-id="abcde-1">訳</span> tail\n'
    )
    assert error.line == 7
    assert "no English twin" in error.message


def test_mismatched_lookup_id_is_rejected():
    """An sxs-lookup span carrying another segment's id is reported."""
    text = (
        '---\ntitle: T\nms.contentlocale: ja-jp\n---\n<span data-ttu-id="abcde-1">訳</span>'
        '<span class="sxs-lookup"><span data-stu-id="abcde-2">Source</span></span>\n'
    )
    error = parse_error(text)
    assert error.line == 5
    assert "'abcde-1'" in error.message and "'abcde-2'" in error.message


def test_unclosed_span_is_rejected():
    """A segment span that never closes before the paragraph ends is reported on its line."""
    text = '---\ntitle: T\nms.contentlocale: ja-jp\n---\n# H\n<span data-ttu-id="abcde-1">訳\n\nmore\n'
    error = parse_error(text)
    assert error.line == 6
    assert "unclosed" in error.message


def test_stray_lookup_without_translation_is_rejected():
    """An sxs-lookup span with no data-ttu-id span before it is reported."""
    text = f'{JA_FRONT}\n<span class="sxs-lookup"><span data-stu-id="abcde-1">S</span></span>\n'
    error = parse_error(text)
    assert error.line == 6
    assert "stray" in error.message


def test_duplicate_segment_id_is_rejected():
    """The same segment id used twice in one file is reported at the second use."""
    text = f"{JA_FRONT}{pair('abcde-1', 'a', 'A')}\n{pair('abcde-1', 'b', 'B')}\n"
    error = parse_error(text)
    assert error.line == 6
    assert "duplicate" in error.message


def test_unknown_contentlocale_is_reported_on_its_line():
    """An ms.contentlocale outside the locale table is reported on the key's line."""
    error = parse_error("---\ntitle: T\nms.contentlocale: de-DE\n---\nbody\n")
    assert error.line == 3
    assert error.message == "unknown locale 'de-de'"


def test_unknown_locale_argument_is_rejected():
    """A locale given as an argument must be in the locale table."""
    error = parse_error("---\ntitle: T\nms.contentlocale: ja-jp\n---\nbody\n", locale="xx-yy")
    assert "unknown locale 'xx-yy'" in error.message


def test_missing_locale_everywhere_is_rejected():
    """No contentlocale, no locale in the path and no argument is an error that says what to do."""
    error = parse_error("---\ntitle: T\n---\nbody\n", path="docs/page.md")
    assert error.message.startswith("cannot tell the locale: add ms.contentlocale")
    assert "--locale" in error.message


def test_empty_body_is_reported_after_the_front_matter():
    """A body of only whitespace and an HONumber comment is reported on the first body line."""
    error = parse_error("---\ntitle: T\nms.contentlocale: ja-jp\n---\n \n\xa0\n<!--HONumber=Nov16_HO4-->\n")
    assert error.line == 5
    assert "empty body" in error.message


def test_binary_bytes_with_nul_are_rejected():
    """A NUL byte marks a binary file and is reported on its line."""
    error = parse_error(b"---\ntitle: T\n---\n\x00\x01\x02binary\n")
    assert error.line == 4
    assert "not a UTF-8 text file" in error.message


def test_invalid_utf8_is_reported_on_the_line_of_the_first_bad_byte():
    """Undecodable bytes are reported on the line where they occur."""
    error = parse_error(b"---\r\ntitle: T\r\nms.contentlocale: ja-jp\r\n---\r\nok\r\nbad \xff byte\r\n")
    assert error.line == 6
    assert "not a UTF-8 text file" in error.message


def test_invalid_date_is_reported_on_its_line():
    """An ms.date that is not MM/DD/YYYY is reported on the key's line."""
    error = parse_error("---\ntitle: T\nms.contentlocale: ja-jp\nms.date: 13/45/2020\n---\nbody\n")
    assert error.line == 4


def test_missing_file_is_a_docfx_error(tmp_path):
    """A path that cannot be read raises DocfxError instead of OSError."""
    with pytest.raises(DocfxError):
        parse_file(tmp_path / "missing.zh-tw.md")


# --- hostile input ------------------------------------------------------------------------------

# Nine nested anchors: composed and written out, this front matter is 9**9 'lol's (billion laughs).
BILLION_LAUGHS = (
    "---\n"
    "title: T\n"
    "ms.contentlocale: ja-jp\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "---\n# T\n\nbody\n"
)


def test_billion_laughs_front_matter_is_refused_at_once():
    """Nested anchors are refused at the first anchor's line, before anything is expanded."""
    assert len(BILLION_LAUGHS.encode()) < 400
    started = time.perf_counter()
    error = parse_error(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.5
    assert error.line == 4
    assert str(error).startswith("doc.md:4: front matter uses a YAML anchor '&a'")


def test_single_alias_is_refused_on_its_line():
    """An alias to a plain scalar is refused on the alias's line, even without an anchor before it."""
    error = parse_error("---\ntitle: T\nms.contentlocale: ja-jp\ndescription: *t\n---\nbody\n")
    assert error.line == 4
    assert "YAML alias '*t'" in error.message


def test_anchor_and_alias_are_refused_at_the_anchor():
    """The anchor is the first thing refused, on its own line counted from the top of the file."""
    error = parse_error("---\n\ntitle: &t T\nms.contentlocale: ja-jp\ndescription: *t\n---\nbody\n")
    assert error.line == 3
    assert "YAML anchor '&t'" in error.message


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("!!python/object:os.system x", "!!python/object:os.system"),
        ("!!python/object/apply:os.system [ls]", "!!python/object/apply:os.system"),
        ("!foo x", "!foo"),
        ("!!str x", "!!str"),
        ("! x", "!"),
    ],
)
def test_explicit_yaml_tags_are_refused_on_their_line(value, written):
    """Any explicit tag in the front matter is refused and named as written."""
    error = parse_error(f"---\ntitle: T\nms.contentlocale: ja-jp\nms.custom: {value}\n---\nbody\n")
    assert error.line == 4
    assert f"YAML tag '{written}'" in error.message


def test_tag_on_a_multi_line_list_is_reported_on_the_tag_line():
    """A tag on a block collection is reported where the tag is written."""
    error = parse_error("---\ntitle: T\nms.contentlocale: ja-jp\nitems: !!seq\n  - a\n  - b\n---\nbody\n")
    assert error.line == 4


def test_deeply_nested_front_matter_is_refused():
    """Nesting deeper than any DocFX front matter is refused instead of exhausting the stack."""
    error = parse_error(f"---\ntitle: T\nms.contentlocale: ja-jp\nx: {'[' * 5000}\n---\nbody\n")
    assert error.line == 4
    assert "nests deeper" in error.message


def test_node_text_writes_a_shared_node_once():
    """Even handed an expanded alias graph, _node_text writes each node once instead of 9**9 times."""
    root = yaml.compose(BILLION_LAUGHS.split("---\n")[1], Loader=yaml.SafeLoader)
    started = time.perf_counter()
    seen: set[int] = set()
    text = ", ".join(_node_text(value, seen) for _key, value in root.value)
    assert time.perf_counter() - started < 0.5
    assert text.count("lol") == 9


def test_file_larger_than_the_limit_is_refused_before_it_is_read(tmp_path):
    """parse_file refuses a file over max_bytes at line 1, naming the limit."""
    path = tmp_path / "big.ja-jp.md"
    path.write_text(JA_FRONT + "# T\n\n" + "x" * 2048 + "\n")
    with pytest.raises(DocfxError) as caught:
        parse_file(path, max_bytes=1024)
    assert str(caught.value).startswith(f"{path}:1: the file is larger than the 1 KB limit")
    assert parse_file(path).body.startswith("# T")


def test_file_at_the_limit_is_accepted(tmp_path):
    """A file of exactly max_bytes parses."""
    path = tmp_path / "exact.ja-jp.md"
    head = JA_FRONT + "# T\n\n"
    path.write_text(head + "x" * (1024 - len(head) - 1) + "\n")
    assert path.stat().st_size == 1024
    assert parse_file(path, max_bytes=1024).title == "T"
