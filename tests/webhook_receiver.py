"""A webhook receiver on a real local port, as an integrator would run one: every delivery is
verified with the reference library (`standardwebhooks`) against each secret it knows, and
recorded; the answer is whatever the test scripts (status, headers, a hang, being down)."""

import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    # Block (in the receiver's thread pool) until this event is set: a hung receiver.
    hold: threading.Event | None = None
    # Or answer this many seconds late.
    delay: float = 0.0


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    signatures: list[str]
    body: bytes
    # Per known secret: did the reference library verify the delivery with it?
    verified: dict[str, bool]
    payload: Any

    @property
    def verified_by_any(self) -> bool:
        return any(self.verified.values())


class Receiver:
    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.tls = tls  # (certificate file, key file): serve https
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.hosts: list[str] = []
        self.answers: deque[Answer] = deque()  # scripted answers, then `default`
        self.default = Answer()
        self._lock = threading.Lock()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def url_for(self, host: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}/hooks"

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.received]

    async def _handle(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:  # the sender gave up (its timeout): nothing to record
            return Response(status_code=499)
        headers = dict(request.headers)
        verified: dict[str, bool] = {}
        payload = None
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
                verified[secret] = True
            except WebhookVerificationError:
                verified[secret] = False
        with self._lock:
            self.hosts.append(headers.get("host", ""))
            self.received.append(
                Received(
                    headers.get("webhook-id", ""),
                    headers.get("webhook-timestamp", ""),
                    headers.get("webhook-signature", "").split(" "),
                    body,
                    verified,
                    payload,
                )
            )
            answer = self.answers.popleft() if self.answers else self.default
        if answer.hold is not None:
            await anyio.to_thread.run_sync(answer.hold.wait, 30)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    def start(self) -> None:
        app = Starlette(routes=[Route("/hooks", self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            ssl_certfile=self.tls[0] if self.tls else None,
            ssl_keyfile=self.tls[1] if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None


def self_signed(directory: str, name: str) -> tuple[str, str]:
    """A certificate for `name` (its own CA) and its key, as files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = f"{directory}/cert.pem", f"{directory}/key.pem"
    with open(cert_file, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_file, key_file
