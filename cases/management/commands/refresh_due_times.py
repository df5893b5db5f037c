"""Compute the service-level due times of every case (run once after upgrading to service levels; safe to run
again: it recomputes what the services keep up to date)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cases.models import Partner
from cases.servicelevels import partner_refresh_due_times


class Command(BaseCommand):
    help = "Recompute the service-level due times of every case, or of the open ones only (--open)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--open", action="store_true", help="only the open cases")

    def handle(self, *args, **options) -> None:
        total = 0
        for partner in Partner.objects.order_by("pk"):
            total += partner_refresh_due_times(partner=partner, every_case=not options["open"])
        self.stdout.write(f"{total} case(s) recomputed.")
