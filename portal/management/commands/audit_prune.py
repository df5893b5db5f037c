"""python manage.py audit_prune — remove audit events older than AUDIT_RETENTION_DAYS (0 keeps them all)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from portal import audit


class Command(BaseCommand):
    help = "Remove audit events older than AUDIT_RETENTION_DAYS; the chains stay verifiable."

    def handle(self, *args: Any, **options: Any) -> None:
        removed = audit.prune()
        self.stdout.write(f"{removed} event(s) older than {settings.AUDIT_RETENTION_DAYS} days removed.")
