"""The geometry of the reports' charts, drawn as inline SVG by templates/cases/_charts.html: no script, no
library, and every number also in the table beside the chart."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field

WIDTH = 460  # about the width it is shown at beside its table, so its text stays readable
LABEL_WIDTH = 110  # room for the labels left of horizontal bars
ROW_HEIGHT = 26
COLUMN_AREA = 180  # height of the plotting area of column charts
AXIS = 22  # room below the columns for their labels
MARGIN = 24  # either side of the columns, so the first and last labels are not cut
FONT_SIZE = 12  # of the charts' text (static/portal/css/portal.css, .chart text)


@dataclass(frozen=True)
class Shape:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str  # what a pointer over the shape tells (also in the table)


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    fit: float | None = None  # a width the text is squeezed into (SVG textLength) when it would run over


def text_width(text: str) -> float:
    """About how wide the text is drawn at the charts' font size: a full em for a wide (CJK) character, a
    little over half one for the others. An estimate, erring wide, to tell when a label needs squeezing."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.62 for c in text) * FONT_SIZE


def label_text(x: float, y: float, text: str, room: float) -> Text:
    """A label left of a bar, squeezed into its room if it would run into the bar."""
    return Text(x, y, text, fit=room if text_width(text) > room else None)


@dataclass
class Chart:
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, name)


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    values: list[float]
    labels: list[str]  # each value as the page shows it


def columns(categories: list[str], series: list[Series], *, every: int = 1) -> Chart:
    """Vertical bars, one group per category, one bar per series; every: label only each n-th category."""
    top = max((v for s in series for v in s.values), default=0) or 1
    count = max(len(categories), 1)
    slot = (WIDTH - 2 * MARGIN) / count
    bar = max(slot * 0.8 / max(len(series), 1), 1)
    chart = Chart(WIDTH, COLUMN_AREA + AXIS + 4, legend=[(s.css, s.name) for s in series])
    for i, category in enumerate(categories):
        left = MARGIN + i * slot + slot * 0.1
        for j, s in enumerate(series):
            height = COLUMN_AREA * s.values[i] / top
            if not height:  # nothing to draw; the table says 0
                continue
            chart.shapes.append(
                Shape(
                    round(left + j * bar, 1),
                    round(COLUMN_AREA - height, 1),
                    round(bar, 1),
                    round(height, 1),
                    s.css,
                    f"{category} · {s.name}: {s.labels[i]}",
                )
            )
        if i % every == 0:
            chart.texts.append(
                Text(round(MARGIN + i * slot + slot / 2, 1), COLUMN_AREA + 16, category, "middle")
            )
    return chart


def bars(labels: list[str], series: list[Series], *, top: float | None = None) -> Chart:
    """Horizontal bars, one row per label, one bar per series in it, scaled to top (default: the largest)."""
    top = top or max((v for s in series for v in s.values), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 70
    per_row = ROW_HEIGHT * len(series) + 10
    chart = Chart(WIDTH, per_row * max(len(labels), 1), legend=[(s.css, s.name) for s in series])
    for i, label in enumerate(labels):
        y = i * per_row
        chart.texts.append(label_text(0, y + per_row / 2, label, LABEL_WIDTH - 6))
        for j, s in enumerate(series):
            width = room * s.values[i] / top
            row_y = y + 5 + j * ROW_HEIGHT
            if width:
                chart.shapes.append(
                    Shape(
                        LABEL_WIDTH,
                        row_y,
                        round(width, 1),
                        ROW_HEIGHT - 6,
                        s.css,
                        f"{label} · {s.name}: {s.labels[i]}",
                    )
                )
            chart.texts.append(Text(round(LABEL_WIDTH + width + 6, 1), row_y + ROW_HEIGHT / 2, s.labels[i]))
    return chart


def stacked(labels: list[str], series: list[Series]) -> Chart:
    """One horizontal bar per label, split into the series' shares of its total."""
    room = WIDTH - LABEL_WIDTH - 10
    chart = Chart(WIDTH, (ROW_HEIGHT + 14) * max(len(labels), 1), legend=[(s.css, s.name) for s in series])
    for i, label in enumerate(labels):
        y = i * (ROW_HEIGHT + 14)
        total = sum(s.values[i] for s in series) or 1
        left = float(LABEL_WIDTH)
        chart.texts.append(label_text(0, y + (ROW_HEIGHT + 14) / 2, label, LABEL_WIDTH - 6))
        for s in series:
            width = room * s.values[i] / total
            if width:
                chart.shapes.append(
                    Shape(
                        round(left, 1),
                        y + 7,
                        round(width, 1),
                        ROW_HEIGHT,
                        s.css,
                        f"{label} · {s.name}: {s.labels[i]}",
                    )
                )
            left += width
    return chart


# --- The reports page's charts -------------------------------------------------------------------


def week_label(day) -> str:
    """A week's Monday, short, in the active language (Dec 1 · 12月1日 · 1 дек.)."""
    from portal.templating import active_locale

    return _week_label(day, active_locale())


@functools.lru_cache(maxsize=4096)
def _week_label(day, locale: str) -> str:
    from babel.dates import format_skeleton

    return format_skeleton("MMMd", day, locale=locale)


def target_group_label(group: str) -> str:
    from django.utils.translation import gettext as _

    from cases.models import EscalationTarget, labels

    return labels(EscalationTarget)[group] if group else _("Not escalated")


def target_outcome_labels() -> dict[str, str]:
    from django.utils.translation import gettext as _

    return {"met": _("Met"), "missed": _("Missed"), "pending": _("Not due yet"), "no_target": _("No target")}


def for_report(report) -> dict[str, Chart]:
    """The charts of a cases.reports.Report, labelled in the active language."""
    from django.utils.translation import gettext as _

    from portal.templating import hours, number, percent

    weeks = report.weeks
    opened = [w.opened for w in weeks]
    resolved = [w.resolved for w in weeks]
    charts = {
        "weekly": columns(
            [week_label(w.start) for w in weeks],
            [
                Series(_("Cases opened"), "chart-a", opened, [number(v) for v in opened]),
                Series(_("Cases resolved"), "chart-b", resolved, [number(v) for v in resolved]),
            ],
            every=-(-len(weeks) // 7),  # at most seven labels under the columns,
        ),
    }
    rates = [m.recovery_rate or 0 for m in report.money]
    charts["recovery"] = bars(
        [m.currency for m in report.money],
        [Series(_("Recovery rate"), "chart-b", rates, [percent(m.recovery_rate) for m in report.money])],
        top=max(1.0, *rates) if rates else 1.0,
    )
    times = report.resolution_times
    medians = [t.median.total_seconds() / 3600 if t.median else 0 for t in times]
    p90s = [t.p90.total_seconds() / 3600 if t.p90 else 0 for t in times]
    charts["times"] = bars(
        [target_group_label(t.target) for t in times],
        [
            Series(_("Median"), "chart-a", medians, [hours(t.median) for t in times]),
            Series(_("90th percentile"), "chart-c", p90s, [hours(t.p90) for t in times]),
        ],
    )
    outcomes = target_outcome_labels()
    rows = [report.first_response, report.resolution]
    charts["targets"] = stacked(
        [_("First-response target"), _("Resolution target")],
        [
            Series(name, css, [getattr(r, key) for r in rows], [number(getattr(r, key)) for r in rows])
            for key, name, css in (
                ("met", outcomes["met"], "chart-b"),
                ("missed", outcomes["missed"], "chart-d"),
                ("pending", outcomes["pending"], "chart-c"),
                ("no_target", outcomes["no_target"], "chart-e"),
            )
        ],
    )
    ratings = report.satisfaction.distribution
    charts["csat"] = columns(
        [number(r) for r in ratings],
        [Series(_("Answers"), "chart-a", list(ratings.values()), [number(v) for v in ratings.values()])],
    )
    return charts
