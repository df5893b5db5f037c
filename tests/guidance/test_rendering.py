"""The guidance renderer: sanitised HTML whatever the markdown holds, DocFX alerts, anchors and links."""

from __future__ import annotations

import pytest

from guidance.rendering import PageSegment, render_markdown

XSS = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<svg onload=alert(1)>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><input name="x"></form>',
]


@pytest.mark.parametrize("payload", XSS)
def test_no_script_handler_or_javascript_url_survives(payload: str) -> None:
    """Scripts, event handlers, javascript:/data: URLs, frames, styles and forms are removed."""
    html = render_markdown(f"Text before {payload} text after\n\n> {payload}\n").html.lower()
    dangerous = (
        "<script",
        "onerror=",
        "onload=",
        '="javascript:',
        '="data:',
        "<iframe",
        "<style",
        "style=",
        "<form",
        "<svg",
    )
    for bad in dangerous:
        assert bad not in html


def test_xss_inside_bilingual_segments_is_removed_too() -> None:
    """The English source shown in bilingual mode goes through the same sanitiser."""
    source = 'Source <img src=x onerror="alert(1)"><script>alert(1)</script>'
    rendered = render_markdown(
        "訳文です。", segments=[PageSegment("a-1", "current", "訳文です。", source, source)], bilingual=True
    )
    assert "onerror" not in rendered.html
    assert "<script" not in rendered.html
    assert 'class="segment-source" lang="en"' in rendered.html


@pytest.mark.parametrize("kind", ["NOTE", "Tip", "important", "CAUTION", "Warning"])
def test_docfx_alerts_become_labelled_boxes(kind: str) -> None:
    """Every DocFX alert kind renders as a div with its class and a label."""
    html = render_markdown(f"> [!{kind}]\n> Mind this.\n").html
    assert f'<div class="alert alert-{kind.lower()}" role="note">' in html
    assert '<p class="alert-title">' in html
    assert "[!" not in html
    assert "<blockquote>" not in html


def test_plain_blockquote_stays_a_blockquote() -> None:
    """A blockquote without an alert marker is left alone."""
    assert "<blockquote>" in render_markdown("> Just a quote.\n").html


def test_heading_anchor_inside_or_outside_the_text_becomes_the_id() -> None:
    """<a name> before the text and <a href="" id> inside it both give the heading id."""
    html = render_markdown(
        '# Title\n\n## <a name="first"></a>First\n\n## <a href="" id="second"></a>Second\n\n### Third part\n'
    )
    assert '<h2 id="first">First</h2>' in html.html
    assert '<h2 id="second">Second</h2>' in html.html
    assert '<h3 id="third-part">Third part</h3>' in html.html
    assert [(h.level, h.text, h.anchor) for h in html.toc] == [
        (2, "First", "first"),
        (2, "Second", "second"),
        (3, "Third part", "third-part"),
    ]


def test_first_heading_is_dropped_as_the_page_shows_the_title() -> None:
    """The leading H1 is the page title, not repeated in the body."""
    html = render_markdown("# The title\n\nBody.\n").html
    assert "<h1" not in html
    assert "The title" not in html


def test_md_links_are_resolved_or_unlinked() -> None:
    """Relative .md links go through the resolver; unresolved ones become plain text; others stay."""
    html = render_markdown(
        "[a](known.md#part) [b](unknown.md) [c](https://learn.microsoft.com/x.md) [d](#local)",
        resolve_link=lambda slug: "/en/guidance/global/known/" if slug == "known" else None,
    ).html
    assert '<a href="/en/guidance/global/known/#part"' in html
    assert "unknown" not in html and ">b<" not in html and " b " in html
    assert 'href="https://learn.microsoft.com/x.md"' in html
    assert 'href="#local"' in html


def test_tables_render() -> None:
    """Pipe tables (with spans in DocFX cells) render as HTML tables."""
    html = render_markdown("| Role | Duty |\n|---|---|\n| Billing admin | Invoices |\n").html
    assert "<table>" in html and "<td>Billing admin</td>" in html


def test_segments_are_aligned_in_document_order() -> None:
    """Repeated short texts are matched in order, so each gets its own English."""
    rendered = render_markdown(
        "- 合作夥伴中心\n- 其他\n- 合作夥伴中心\n",
        segments=[
            PageSegment("a-1", "current", "合作夥伴中心", "Partner Center", "Partner Center"),
            PageSegment("a-2", "current", "其他", "Other", "Other"),
            PageSegment("a-3", "current", "合作夥伴中心", "Partner Center (again)", "Partner Center (again)"),
        ],
        bilingual=True,
    )
    assert rendered.aligned == 3
    assert rendered.html.index("Partner Center</span>") < rendered.html.index("Partner Center (again)")


def test_segments_changed_by_an_admin_are_skipped() -> None:
    """A sentence an admin rewrote no longer matches and simply shows no English twin."""
    original = PageSegment(
        "a-1", "current", "原來的句子。", "The original sentence.", "The original sentence."
    )
    rendered = render_markdown("改寫的句子。\n", segments=[original], bilingual=True)
    assert rendered.aligned == 0
    assert "segment-source" not in rendered.html
