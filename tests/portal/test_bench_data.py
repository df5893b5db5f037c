"""`make bench` loads its data with COPY, column by column, past the models' defaults: a field added to a model
without a default breaks the benchmark and nothing else. The loader runs here at a small scale on the current
schema, and what it loads is what the portal reads."""

from __future__ import annotations

import pytest

from bench import data
from cases.models import Case, CaseEvent, Notification
from guidance.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def small(monkeypatch) -> None:
    monkeypatch.setattr(data, "MEASURED_CASES", 40)
    monkeypatch.setattr(data, "OTHER_PARTNER_CASES", [30, 20])
    monkeypatch.setattr(data, "MEASURED_CUSTOMERS", 10)
    monkeypatch.setattr(data, "MEASURED_MEMBERS", 5)
    monkeypatch.setattr(data, "PIPELINE_CASES", 6)
    monkeypatch.setattr(data, "PIPELINE_WARMUP", 2)


def test_the_benchmark_data_loads_on_the_current_schema(small, eager_tasks) -> None:
    partner_id, _viewer, _key, _api_key, counts = data.load_cases(viewer_password="bench-password-2026")
    slugs = data.load_articles(3)
    measured, warmup = data.load_pipeline_cases()

    assert counts["measured_cases"] == 40
    assert counts["cases"] == 40 + 30 + 20
    assert CaseEvent.objects.filter(case__partner_id=partner_id).count() == counts["events"] > 40
    # Every loaded case reads back through the model, every field as the portal would see it.
    for case in Case.objects.filter(partner_id=partner_id):
        case.full_clean(exclude=["customer", "subscription"], validate_unique=False)
    assert Article.objects.filter(slug__in=slugs).count() == 3
    assert len(measured) == 6 and len(warmup) == 2
    assert Notification.objects.filter(pk__in=measured + warmup, status="pending").count() == 8
