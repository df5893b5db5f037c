"""The portal's user (people sign in with their e-mail address), their sessions and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        # Addresses are stored normalised (trimmed, lower-cased) and matched the same way when signing in;
        # django-axes counts failures against the same form (portal.auth.axes_username).
        return self.get(email=normalize_email(username or ""))

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        if not extra["is_staff"] or not extra["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra)


def normalize_email(email: str) -> str:
    """Return the e-mail address trimmed and lower-cased, the form the portal stores."""
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text=_("The language of the e-mails the portal sends this person."),
    )
    is_staff = models.BooleanField(
        _("staff status"),
        default=False,
        help_text=_("Designates whether the user can sign in to the admin site."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Unselect this instead of deleting accounts."),
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="portal_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    """A personal API token: shown once when created, stored only as a SHA-256 hash."""

    PREFIX = "csp_"

    user = models.ForeignKey(
        "portal.User", on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    key_prefix = models.CharField(max_length=12, editable=False, verbose_name=_("key prefix"))
    key_hash = models.CharField(max_length=64, unique=True, editable=False, verbose_name=_("key hash"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user: User, name: str) -> tuple[ApiToken, str]:
        """Create a token for user; returns the row and the key, which is never stored in clear."""
        key = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_prefix=key[:10], key_hash=cls.hash(key))
        return token, key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Session(AbstractBaseSession):
    """A browser's session, with the user signed in on it: a signed-in page reads the session, the user, the
    membership and the partner in one query (portal.sessions), and a deleted user's sessions go with it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "portal_session"

    @classmethod
    def get_session_store_class(cls):
        from portal.sessions import SessionStore

        return SessionStore


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", _("signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("sign-in failed")
    LOCKED_OUT = "locked_out", _("locked out")
    MFA_ENROLLED = "mfa_enrolled", _("set up two-step sign-in")
    MFA_REMOVED = "mfa_removed", _("turned two-step sign-in off")
    MFA_RESET = "mfa_reset", _("reset a colleague's two-step sign-in")
    MFA_RECOVERY_USED = "mfa_recovery_used", _("used a recovery code")
    MFA_RECOVERY_RENEWED = "mfa_recovery_renewed", _("made new recovery codes")
    MEMBER_INVITED = "member_invited", _("invited a colleague")
    ROLES_CHANGED = "roles_changed", _("changed roles")
    MEMBER_DEACTIVATED = "member_deactivated", _("deactivated an account")
    MEMBER_REACTIVATED = "member_reactivated", _("reactivated an account")
    TOKEN_CREATED = "token_created", _("created an API token")
    TOKEN_REVOKED = "token_revoked", _("revoked an API token")
    SUBSCRIPTION_SUSPENDED = "subscription_suspended", _("suspended a subscription")
    SUBSCRIPTION_REACTIVATED = "subscription_reactivated", _("reactivated a subscription")
    PARTNER_EDITED = "partner_edited", _("edited the partner (admin site)")
    EXPORTED = "exported", _("exported the audit trail")


class AuditChain(models.Model):
    """The head of one audit chain (one per partner, and one for events of no partner): the hash of its last
    event, so removing the newest events is detectable too, and the row every new event locks."""

    key = models.CharField(max_length=32, unique=True, verbose_name=_("key"))
    last_hash = models.CharField(max_length=64, blank=True, verbose_name=_("last hash"))
    count = models.PositiveBigIntegerField(default=0, verbose_name=_("count"))
    # Past the retention, events up to this sequence number were removed; the chain starts after this hash.
    pruned_to = models.PositiveBigIntegerField(default=0, verbose_name=_("pruned to"))
    pruned_hash = models.CharField(max_length=64, blank=True, verbose_name=_("hash at the pruning"))

    class Meta:
        verbose_name = _("audit chain")
        verbose_name_plural = _("audit chains")

    def __str__(self) -> str:
        return f"{self.key} ({self.count})"


class AuditEvent(models.Model):
    """Who did what, when and from where: append-only, each event carrying the hash of the one before it in
    its partner's chain (portal/audit.py; `manage.py audit_verify` checks the chains)."""

    partner = models.ForeignKey(
        "cases.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner"),
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    actor_email = models.CharField(_("who"), max_length=254, blank=True)
    address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices)
    object_type = models.CharField(max_length=40, blank=True, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, blank=True, verbose_name=_("object id"))
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True, verbose_name=_("before"))
    after = models.JSONField(null=True, blank=True, verbose_name=_("after"))
    sequence = models.PositiveBigIntegerField(editable=False, verbose_name=_("sequence"))
    previous_hash = models.CharField(
        max_length=64, blank=True, editable=False, verbose_name=_("previous hash")
    )
    hash = models.CharField(max_length=64, editable=False, verbose_name=_("hash"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["partner", "-created_at", "-id"], name="audit_partner_recent")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_email} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any):
        raise ValueError("Audit events are never deleted (see AUDIT_RETENTION_DAYS).")
