"""python manage.py audit_verify — check every audit chain; exit 1 naming each place one was edited or cut."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal import audit
from portal.models import AuditChain


class Command(BaseCommand):
    help = "Check the audit trail's hash chains: every edited, missing or removed event is named."

    def handle(self, *args: Any, **options: Any) -> None:
        breaks = audit.verify()
        for found in breaks:
            self.stderr.write(str(found))
        if breaks:
            raise CommandError(f"The audit trail does not hold: {len(breaks)} break(s).")
        chains = AuditChain.objects.count()
        self.stdout.write(f"The audit trail holds: {chains} chain(s) checked.")
