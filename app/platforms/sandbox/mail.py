"""The sandbox's SMTP sink: a local mail server (aiosmtpd) that keeps every message it is
sent, so invitations and password resets can be followed end to end with no real mail.

    GET /__sandbox/mail      {"messages": [{mail_from, to, subject, body, received_at}]},
                             oldest first; ?to= keeps one recipient's
    DELETE /__sandbox/mail   forgets them
"""

import asyncio
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_KEPT = 1000


class MailSink:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = message_from_bytes(raw, policy=policy.default)
        body = parsed.get_body(("plain",)) if parsed.is_multipart() else parsed
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(parsed.get("subject", "")),
                "body": body.get_content() if body is not None else "",
                "received_at": datetime.now(UTC).isoformat(),
            }
        )
        del self.messages[:-_KEPT]
        return "250 OK"

    async def start(self, host: str, port: int) -> int:
        """Listens for SMTP; returns the port (pass 0 for any free one)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def read(self, request: Request) -> Response:
        to = request.query_params.get("to")
        messages = [m for m in self.messages if to is None or to.lower() in m["to"]]
        return JSONResponse({"messages": messages})

    async def clear(self, request: Request) -> Response:
        self.messages.clear()
        return Response(status_code=204)

    def routes(self) -> list[Route]:
        return [
            Route("/__sandbox/mail", self.read),
            Route("/__sandbox/mail", self.clear, methods=["DELETE"]),
        ]
