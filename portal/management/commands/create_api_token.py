"""python manage.py create_api_token EMAIL [--name NAME] — print a new API token, alone on the last line."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from portal import audit
from portal.models import ApiToken, AuditAction


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (it is stored only as a hash)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="command line", help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(email__iexact=options["email"].strip()).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {options['email']}.")
        if not user.is_active:
            raise CommandError(f"{user.email} is deactivated.")
        if not hasattr(user, "membership"):
            self.stderr.write(f"Note: {user.email} belongs to no partner; the token will reach no data.")
        with transaction.atomic():
            token, key = ApiToken.issue(user=user, name=options["name"])
            audit.record(AuditAction.TOKEN_CREATED, actor=user, obj=token, after={"by": "create_api_token"})
        self.stdout.write(key)
