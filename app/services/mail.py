"""Sending email through SMTP (aiosmtplib), when SMTP_URL is set. Mail goes out after the
request's commit (a background task of the answer), so nobody is sent a link that was rolled
back; a failure to send is logged, never shown to the caller."""

import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.settings import Settings

log = logging.getLogger(__name__)


def enabled(settings: Settings) -> bool:
    return bool(settings.smtp_url)


async def send(settings: Settings, to: str, subject: str, body: str) -> bool:
    if not settings.smtp_url:
        return False
    url = urlsplit(settings.smtp_url)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    tls = url.scheme == "smtps"
    try:
        await aiosmtplib.send(
            message,
            hostname=url.hostname or "localhost",
            port=url.port or (465 if tls else 25),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            use_tls=tls,
            timeout=settings.http_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("mail to a user not sent: %s", type(exc).__name__)
        return False
    return True


def invitation(link: str, expires: str, organization: str) -> tuple[str, str]:
    return (
        f"You are invited to {organization} on ViewLedger",
        f"You have been invited to {organization} on ViewLedger.\n\n"
        f"Set your password here (the link works once, until {expires} UTC):\n{link}\n",
    )


def password_reset(link: str, expires: str) -> tuple[str, str]:
    return (
        "Reset your ViewLedger password",
        "Someone asked to reset the password of this ViewLedger account. If it was you, set "
        f"a new one here (the link works once, until {expires} UTC):\n{link}\n\n"
        "If it was not you, ignore this message: your password has not changed.\n",
    )
