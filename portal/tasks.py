"""Periodic work of the portal app (Celery beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def prune_audit() -> int:
    """Remove audit events past AUDIT_RETENTION_DAYS (portal.audit.prune); the chains stay verifiable."""
    from portal import audit

    return audit.prune()
