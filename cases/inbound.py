"""Replies by e-mail: the reply address on outgoing customer e-mails, and the one intake for what comes back.

Every message, whichever way it arrives (`manage.py receive_email` from an MTA pipe; poll_imap, the IMAP
poller), goes through receive(): first its raw bytes are stored, in a transaction of their own, so nothing is
lost whatever happens next; then, in a second transaction, it is threaded into its case. A failure while
threading rolls back everything the threading wrote and leaves the stored message marked with the error.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from mailparser_reply import EmailMessage as ReplyParser

from cases import services
from cases.models import (
    Case,
    Customer,
    InboundEmail,
    InboundStatus,
    Membership,
    Notification,
)
from cases.uploads import clean_filename

logger = logging.getLogger(__name__)


class InboundError(Exception):
    """Input that is not a message at all (nothing was stored); the message is for the operator."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- The reply address ----------------------------------------------------------------------------------

SALT = "cases.reply-address"
TOKEN_LENGTH = 16  # characters of lower-case base32: 80 bits of HMAC


class _ReplyTagSigner(signing.Signer):
    """django.core.signing's Signer (keys, salt, SECRET_KEY_FALLBACKS) with a signature that survives in a
    local part: some MTAs lower-case local parts, so lower-case base32 instead of base64, cut short."""

    def signature(self, value: str, key: Any = None) -> str:
        digest = salted_hmac(self.salt + "signer", value, key or self.key, algorithm=self.algorithm).digest()
        return base64.b32encode(digest).decode().lower()[:TOKEN_LENGTH]


def _signer() -> _ReplyTagSigner:
    return _ReplyTagSigner(salt=SALT, sep=".")


def case_token(case: Case) -> str:
    """The signed tag of a case's reply address, e.g. con-1001.k5x2mq7bd3hz4wfa (safe in any local part)."""
    return _signer().sign(case.number.lower())


def read_case_token(tag: str) -> str | None:
    """The case number a reply-address tag names, or None if the portal did not sign it."""
    try:
        return _signer().unsign(tag.strip().lower()).upper()
    except signing.BadSignature:
        return None


def reply_address(case: Case) -> str | None:
    """The portal's reply address for the case (local+token@domain), or None: no INBOUND_EMAIL_ADDRESS, or
    the partner keeps replies in its own mailbox."""
    address = settings.INBOUND_EMAIL_ADDRESS
    if not address or not case.partner.inbound_replies:
        return None
    local, _at, domain = address.rpartition("@")
    return f"{local}+{case_token(case)}@{domain}"


# --- Reading a message ----------------------------------------------------------------------------------

HEAD_KEPT = 64 * 1024  # of a message over the limit, this much of its start (the headers) is kept
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
# A Message-ID of our own for a message that came without one: the same bytes twice are still one entry.
NO_ID_DOMAIN = "no-message-id.invalid"


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def _header(message: Any, name: str) -> str:
    """A header as text, "" when absent or unreadable (the email package raises many kinds of errors on
    malformed headers, and a malformed header must never stop a message)."""
    try:
        value = message.get(name)
        return "" if value is None else str(value).strip()
    except Exception:
        return ""


def _addresses(message: Any, *names: str) -> list[str]:
    values = []
    for name in names:
        try:
            values += [str(value) for value in message.get_all(name, [])]
        except Exception:  # as in _header
            logger.info("unreadable %s header skipped", name)
    return [address.lower() for _name, address in getaddresses(values) if "@" in address]


def _message_id(message: Any, raw: bytes) -> str:
    found = re.search(r"<[^<>\s]+>", _header(message, "Message-ID"))
    if found and len(found.group()) <= 255:
        return found.group()
    basis = found.group().encode() if found else raw
    return f"<sha256.{hashlib.sha256(basis).hexdigest()}@{NO_ID_DOMAIN}>"


def _unreadable(message: Any) -> str | None:
    """Why the parsed bytes are not a message we can work with, or None."""
    if not message.keys():
        return "No e-mail headers: the input is not an RFC 5322 message."
    if not _addresses(message, "From"):
        return "The message names no sender address (From)."
    return None


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw[: min(end if end >= 0 else len(raw), HEAD_KEPT)]


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


# --- Intake ---------------------------------------------------------------------------------------------


def receive(raw: bytes, *, source: str, size: int | None = None) -> InboundEmail:
    """Store one RFC 5322 message, then thread it into its case; the stored entry, whatever came of it.

    size: the whole message's size when raw holds only its start (a pipe cut at the limit). The same
    Message-ID twice is one entry (the first). A message over INBOUND_MAX_BYTES or unreadable is stored
    REFUSED with the reason; empty input raises InboundError and stores nothing. Call it outside any
    transaction: each of its two steps commits on its own.
    """
    if not raw.strip():
        raise InboundError("The message is empty.", code="empty")
    size = len(raw) if size is None else size
    message = _parse(raw if size <= settings.INBOUND_MAX_BYTES else _head(raw))
    fields = {
        "source": source[:16],
        "size": size,
        "sender": (_addresses(message, "From") or [""])[0][:320],
        "recipients": ", ".join(_addresses(message, *RECIPIENT_HEADERS))[:10000],
        "subject": _header(message, "Subject")[:500],
    }
    if size > settings.INBOUND_MAX_BYTES:
        fields.update(
            raw=_head(raw),
            status=InboundStatus.REFUSED,
            reason=f"The message is {_megabytes(size)}; the limit is {_megabytes(settings.INBOUND_MAX_BYTES)}"
            " (INBOUND_MAX_MB). Only its headers are kept.",
        )
    elif problem := _unreadable(message):
        fields.update(raw=raw, status=InboundStatus.REFUSED, reason=problem)
    else:
        fields.update(raw=raw, status=InboundStatus.RECEIVED)
    with transaction.atomic(durable=True):
        inbound, created = InboundEmail.objects.get_or_create(
            message_id=_message_id(message, raw), defaults=fields
        )
    if not created:
        logger.info("inbound %s: %s received again, kept once", inbound.pk, inbound.message_id)
    if inbound.status in (InboundStatus.RECEIVED, InboundStatus.FAILED):
        thread(inbound)  # a message whose threading never finished is threaded when it comes again
        inbound.refresh_from_db()
    return inbound


def thread(inbound: InboundEmail) -> None:
    """Thread a stored message into its case, in one transaction; on any error, roll that back and mark the
    message FAILED with the error (its raw bytes stay)."""
    try:
        # The evidence files stored for it go with the rows if anything in the threading fails.
        with services.evidence_or_nothing(durable=True):
            locked = InboundEmail.objects.select_for_update().get(pk=inbound.pk)
            if locked.status not in (InboundStatus.RECEIVED, InboundStatus.FAILED):
                return  # another delivery of it got here first
            _thread(locked)
    except Exception as error:  # whatever it was, the message is kept and says so
        logger.exception("inbound %s could not be threaded", inbound.pk)
        InboundEmail.objects.filter(pk=inbound.pk).update(
            status=InboundStatus.FAILED, reason=f"{type(error).__name__}: {error}"[:2000]
        )


def _thread(inbound: InboundEmail) -> None:
    message = _parse(bytes(inbound.raw))
    body = _body(message)
    inbound.text = _text(body)[:100000]
    inbound.reason = ""
    if _is_bounce(message):
        _bounce(inbound, message)
        return
    inbound.case, inbound.notification = _match(message)
    automatic = _automatic(message)
    if automatic:
        inbound.status, inbound.reason = InboundStatus.AUTO_REPLY, automatic
    elif inbound.case is None:
        inbound.status = InboundStatus.UNMATCHED
        inbound.reason = "No case token in the recipients and no reference to a portal e-mail."
    else:
        inbound.reply = reply_text(inbound.text, language=inbound.case.customer.preferred_language)
        if not sender_known(inbound.sender, inbound.case.customer):
            inbound.status = InboundStatus.UNVERIFIED
            inbound.reason = (
                "The sender is neither the customer's billing contact nor of its tenant's domain."
            )
        else:
            _apply(inbound, message, body, actor=None)
            return
    inbound.save()


def _apply(inbound: InboundEmail, message: Any, body: Any, *, actor: Membership | None) -> None:
    case, refused = services.case_customer_message(
        case=inbound.case, inbound=inbound, attachments=_attachments(message, body), actor=actor
    )
    inbound.case = case
    inbound.refused_attachments = refused
    inbound.status = InboundStatus.THREADED
    inbound.save()


def inbound_accept(*, inbound: InboundEmail, actor: Membership) -> InboundEmail:
    """A partner user vouches for a message from an unverified sender: it does what the customer's would."""
    with services.evidence_or_nothing():
        inbound = (
            InboundEmail.objects.select_for_update(of=("self",))
            .select_related("case__partner")
            .get(pk=inbound.pk)
        )
        if inbound.case is None or inbound.case.partner_id != actor.partner_id:
            raise PermissionDenied(_("That belongs to another partner."))
        if inbound.status != InboundStatus.UNVERIFIED:
            raise services.CaseActionError(
                _("Only a message from an unverified sender can be accepted."), code="not_unverified"
            )
        message = _parse(bytes(inbound.raw))
        _apply(inbound, message, _body(message), actor=actor)
        inbound.accepted_by = actor.user
        inbound.accepted_at = timezone.now()
        inbound.save(update_fields=["accepted_by", "accepted_at"])
    return inbound


# --- Which case -----------------------------------------------------------------------------------------

# Our Message-IDs (cases.emails.message_id_for): <case-UUID.nID.rROUND@host>.
OUR_MESSAGE_ID = re.compile(r"^<case-([0-9a-f-]{36})\.n(\d+)\.r\d+@[^>]+>$")


def _tagged_case(addresses: list[str]) -> Case | None:
    for address in addresses:
        local = address.rpartition("@")[0]
        if "+" in local and (number := read_case_token(local.split("+", 1)[1])):
            case = Case.objects.select_related("partner", "customer").filter(number=number).first()
            if case is not None:
                return case
    return None


def _referenced(message_ids: list[str]) -> tuple[Case | None, Notification | None]:
    """The case (and customer e-mail) the newest of message_ids that is ours belongs to."""
    for message_id in reversed(message_ids):
        notification = _notification_for(message_id)
        if notification is not None and notification.is_customer_facing:
            return notification.case, notification
        earlier = InboundEmail.objects.filter(message_id=message_id, case__isnull=False).first()
        if earlier is not None:
            return Case.objects.select_related("partner", "customer").get(pk=earlier.case_id), None
    return None, None


def _notification_for(message_id: str) -> Notification | None:
    notifications = Notification.objects.select_related("case__partner", "case__customer")
    found = notifications.filter(message_id=message_id).first()
    if found is None and (ours := OUR_MESSAGE_ID.match(message_id)):
        # Not yet marked sent (or the row lost its Message-ID): the id itself names it, with the case's uuid.
        found = notifications.filter(pk=int(ours.group(2)), case__uuid=ours.group(1)).first()
    return found


def _references(message: Any) -> list[str]:
    """In-Reply-To's and References' Message-IDs, oldest first, In-Reply-To last."""
    references = re.findall(r"<[^<>\s]+>", _header(message, "References"))
    return references + re.findall(r"<[^<>\s]+>", _header(message, "In-Reply-To"))


def _match(message: Any) -> tuple[Case | None, Notification | None]:
    """The case a reply belongs to: the token in a recipient address, else the e-mail it answers."""
    case, notification = _referenced(_references(message))
    tagged = _tagged_case(_addresses(message, *RECIPIENT_HEADERS))
    if tagged is not None:
        return tagged, notification if case is not None and case.pk == tagged.pk else None
    return case, notification


def sender_known(sender: str, customer: Customer) -> bool:
    """Whether mail from sender speaks for the customer: its billing contact, or an address of its tenant's
    domain (or a subdomain of it). The From header is what is judged; SPF and DKIM are the MTA's to check."""
    sender = sender.lower()
    if not sender:
        return False
    if sender == customer.billing_contact_email.lower():
        return True
    domain = sender.rpartition("@")[2]
    tenant = customer.tenant_domain.lower()
    return domain == tenant or domain.endswith("." + tenant)


# --- Automatic replies and bounces ----------------------------------------------------------------------

# Subjects automatic replies start with when their headers do not say so (Outlook, Exchange, Gmail, Yandex).
AUTOMATIC_SUBJECTS = (
    "automatic reply:",
    "autoreply:",
    "auto-reply:",
    "out of office",
    "自动回复",
    "自动答复",
    "自動回覆",
    "自動回復",
    "自動応答",
    "自動返信",
    "автоматический ответ",
    "автоответ",
)


def _automatic(message: Any) -> str:
    """Why the message is an automatic reply (RFC 3834 and the common headers), or "" when it is not."""
    submitted = _header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = _header(message, name)
        if message.get(name) is not None and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "auto_reply", "list", "junk"):
        return f"Precedence: {precedence}"
    subject = _header(message, "Subject").lower()
    if subject.startswith(AUTOMATIC_SUBJECTS):
        return f"Subject: {_header(message, 'Subject')[:200]}"
    return ""


def _is_bounce(message: Any) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and message.get_param("report-type", "").lower() == "delivery-status"
    )


def _report(message: Any) -> tuple[list[Any], Any | None]:
    """A DSN's per-recipient fields and the headers of the message it reports on."""
    recipients, original = [], None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            recipients = (
                [block for block in blocks[1:] if hasattr(block, "get")] if isinstance(blocks, list) else []
            )
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers") and original is None:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                original = payload[0]
            elif isinstance(payload, str):
                original = BytesParser(policy=policy.default).parsebytes(payload.encode(), headersonly=True)
    return recipients, original


def _bounce(inbound: InboundEmail, message: Any) -> None:
    """A delivery failure report: the notification it reports on failed (matched by its Message-ID, else by
    the case token and the failed recipient)."""
    recipients, original = _report(message)
    failed = [block for block in recipients if _header(block, "Action").lower() == "failed"]
    notification = None
    if original is not None:
        original_id = re.search(r"<[^<>\s]+>", _header(original, "Message-ID"))
        notification = _notification_for(original_id.group()) if original_id else None
        if notification is None:
            case = _tagged_case(_addresses(original, "Reply-To", *RECIPIENT_HEADERS))
            if case is not None:
                notification = _latest_customer_email(case, _final_recipients(failed or recipients))
    if notification is None:
        case = _tagged_case(_addresses(message, *RECIPIENT_HEADERS))
        if case is not None:
            notification = _latest_customer_email(case, _final_recipients(failed or recipients))
    inbound.status = InboundStatus.BOUNCE
    inbound.notification = notification
    inbound.case = notification.case if notification is not None else None
    reason = "; ".join(_bounce_reason(block) for block in failed) or "delivery failed"
    if not failed:
        inbound.reason = "A delivery report that reports no failure (delayed or delivered): nothing changed."
    elif notification is None:
        inbound.reason = f"Bounce for no e-mail of the portal's: {reason}"
    else:
        inbound.reason = f"Bounce: {reason}"
        services.notification_bounced(notification=notification, error=f"bounced: {reason}")
    inbound.save()


def _final_recipients(blocks: list[Any]) -> list[str]:
    return [_header(block, "Final-Recipient").rpartition(";")[2].strip().lower() for block in blocks]


def _latest_customer_email(case: Case, recipients: list[str]) -> Notification | None:
    sent = [n for n in case.notifications.order_by("-pk") if n.is_customer_facing]
    return next((n for n in sent if n.recipient.lower() in recipients), sent[0] if sent else None)


def _bounce_reason(block: Any) -> str:
    status = _header(block, "Status")
    diagnostic = _header(block, "Diagnostic-Code")
    return " ".join(part for part in (status, f"({diagnostic})" if diagnostic else "") if part) or "failed"


# --- The words ------------------------------------------------------------------------------------------


def _body(message: Any) -> Any | None:
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except Exception:  # a broken MIME structure: no body, the raw message is still kept
        return None


def _content(part: Any) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else content.decode("utf-8", errors="replace")


def _text(body: Any | None) -> str:
    if body is None:
        return ""
    content = _content(body)
    if body.get_content_type() == "text/html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip()


class _HtmlText(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quoted = 0
        self.skipping = 0

    def _break(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self._break()
            self.quoted += tag == "blockquote"

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.quoted = max(0, self.quoted - (tag == "blockquote"))
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        text = " ".join(data.split())
        if text:
            prefix = "> " * self.quoted if not self.lines[-1] else ""
            self.lines[-1] += (" " if self.lines[-1] and not prefix else "") + prefix + text


def html_to_text(html: str) -> str:
    """An HTML-only e-mail's text: one line per block, quoted blocks prefixed with "> "."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.lines).strip()


# Where quoted history starts, in the styles the mail clients of the portal's five languages write it, beyond
# what mail-parser-reply knows (its Chinese "写道" rule never matches, and it has no Russian): Gmail, Outlook,
# Apple Mail, Thunderbird.
_ATTRIBUTION = re.compile(
    r"^.*(?:wrote|写道|寫道|書きました|のメッセージ|написал(?:а|\(а\))?|пишет)\s*[:：]\s*$"
    r"|^.*(?:<[^<>\s]+@[^<>\s]+>|\d{4}).*[:：]\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Исходное сообщение|Пересылаемое сообщение|原始邮件|原始郵件|"
    r"元のメッセージ|Forwarded message)\s*-{2,}\s*$"
    r"|^\s*(?:From|От|Від|发件人|寄件者|差出人)\s*[:：].+$",
    re.IGNORECASE,
)
_HEADER_FOLLOWS = re.compile(
    r"^\s*(?:Sent|Date|To|Отправлено|Дата|Кому|发送时间|日期|收件人|寄件日期|"
    r"傳送時間|送信日時|宛先)\s*[:：]",
    re.IGNORECASE,
)
# Sign-offs after which the rest is the signature, where mail-parser-reply has none (Russian, Chinese).
_SIGN_OFF = re.compile(
    r"^\s*(?:С уважением|С наилучшими пожеланиями|此致|敬上|祝好|順頌商祺)[,，.。!！]?\s*$"
)


def _history_starts(lines: list[str]) -> int | None:
    """The index of the line where quoted history starts, or None."""
    for index, line in enumerate(lines):
        following = next((other for other in lines[index + 1 :] if other.strip()), "")
        if _ATTRIBUTION.match(line) and following.lstrip().startswith(">"):
            return index
        if _SEPARATOR.match(line):
            if not line.lstrip().startswith(("-", "—")) and not any(
                _HEADER_FOLLOWS.match(other) for other in lines[index + 1 : index + 4]
            ):
                continue  # a "From: …" line in the customer's own words, not a quoted header block
            return index
    return None


def reply_text(text: str, *, language: str = "en") -> str:
    """What the customer wrote this time: the text without quoted history and signature.

    mail-parser-reply cuts the English, Japanese and Outlook-style quotes and the signatures it knows; then
    the attribution lines it does not know (Chinese, Russian, clients' variants) are cut here, then trailing
    "> " lines and sign-offs. If nothing would remain, the whole text is kept: too much beats no words.
    """
    languages = ["en", "ja", "zh"] if language.startswith(("ja", "zh")) else ["en"]
    parsed = ReplyParser(text=text[:100000], languages=languages, keep_hyphen_lists=True).read()
    first = parsed.replies[0].body if parsed.replies else text
    lines = first.replace("\r\n", "\n").split("\n")
    start = _history_starts(lines)
    if start is not None:
        lines = lines[:start]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    for index, line in enumerate(lines):
        if index and _SIGN_OFF.match(line):
            lines = lines[:index]
            break
    return "\n".join(lines).strip() or text.strip()


# --- Attachments ----------------------------------------------------------------------------------------


def _attachments(message: Any, body: Any | None) -> list[SimpleUploadedFile]:
    """The message's attachments as uploads for the evidence checks; inline pictures (a signature's logo,
    referenced by Content-ID) and the other alternatives of the body are not attachments."""
    files = []
    for part in message.walk():
        if part.is_multipart() or part is body:
            continue
        disposition = part.get_content_disposition()
        name = part.get_filename()
        if disposition != "attachment" and (not name or part.get("Content-ID")):
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # undecodable: refused below as empty
            data = b""
        files.append(
            SimpleUploadedFile(
                clean_filename(name or "attachment"), data, content_type=part.get_content_type()
            )
        )
    return files


# --- The IMAP poller ------------------------------------------------------------------------------------

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class ImapAccount:
    """Where INBOUND_IMAP_URL points: imaps://user:password@host[:port]/FOLDER (imap:// for STARTTLS)."""

    tls: bool
    host: str
    port: int
    user: str
    password: str
    folder: str

    @classmethod
    def from_url(cls, url: str) -> ImapAccount:
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        return cls(
            tls=tls,
            host=parts.hostname or "",
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    def connect(self, timeout: float) -> BaseMailBox:
        """A logged-in mailbox on the account's folder. imap:// asks for STARTTLS, except to a loopback host
        that does not offer it (a test server, a dovecot on the same machine): never plain over a network."""
        if self.tls:
            box: BaseMailBox = MailBox(self.host, self.port, timeout=timeout)
        elif self.host in LOOPBACK:
            box = MailBoxUnencrypted(self.host, self.port, timeout=timeout)
            if "STARTTLS" in box.client.capabilities:
                box.client.starttls()
        else:
            box = MailBoxStartTls(self.host, self.port, timeout=timeout)
        return box.login(self.user, self.password, initial_folder=self.folder)


class _RawMessage(MailMessage):
    """imap-tools' message with the bytes the server sent kept as they came (its .obj is a re-parse)."""

    def __init__(self, fetch_data: list) -> None:
        super().__init__(fetch_data)
        self.raw: bytes = self._get_message_data_parts(fetch_data)[0]


def poll_imap(*, url: str, done_folder: str, limit: int, timeout: float = 30) -> dict[str, int]:
    """Receive up to limit messages from the mailbox at url, oldest first, moving each to done_folder once it
    is stored; what happened, by outcome.

    Stored-then-moved: a worker that dies between the two leaves the message in place, and the next poll
    receives it again as the duplicate it is (one entry by Message-ID) and moves it. A message over
    INBOUND_MAX_BYTES is not downloaded: its headers and size are stored as refused. An error from the
    database stops the run with the message left in place.
    """
    account = ImapAccount.from_url(url)
    counts = {"received": 0, "duplicate": 0, "refused": 0, "empty": 0}
    with account.connect(timeout) as box:
        box.email_message_class = _RawMessage
        if not box.folder.exists(done_folder):
            box.folder.create(done_folder)
        uids = box.uids("ALL")[:limit]
        if not uids:
            return counts
        # Sizes and headers of the whole batch in one command; whole messages one at a time.
        heads = {
            message.uid: message
            for message in box.fetch(uid_list=uids, headers_only=True, mark_seen=False, bulk=True)
        }
        for uid in uids:
            head = heads.get(uid)
            if head is None:
                continue  # expunged by someone else since the search
            if head.size_rfc822 > settings.INBOUND_MAX_BYTES:
                raw, size = head.raw, head.size_rfc822
            else:
                whole = next(box.fetch(uid_list=[uid], mark_seen=False), None)
                if whole is None:
                    continue
                raw, size = whole.raw, None
            before = timezone.now()
            try:
                inbound = receive(raw, source="imap", size=size)
            except InboundError as error:
                logger.warning("imap message %s not stored: %s", uid, error.message)
                counts["empty"] += 1
            else:
                outcome = "duplicate" if inbound.received_at < before else "received"
                counts["refused" if inbound.status == InboundStatus.REFUSED else outcome] += 1
            box.move([uid], done_folder)
    return counts
