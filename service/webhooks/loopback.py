"""A small webhook receiver on 127.0.0.1, for tests, benchmarks and trying a subscription.

It verifies each message with the ``standardwebhooks`` library, answers as its ``respond``
function says (status, delay, headers: to play a flaky, slow or gone endpoint) and keeps
what arrived::

    with LoopbackReceiver(secrets=[secret]) as rx:
        ...  # subscribe rx.url, dispatch
        assert rx.unique_ids() == expected_ids
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass(frozen=True)
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    path: str
    host: str
    verified: bool | None  # None when the receiver has no secret to check with
    status: int  # what the receiver answered


Respond = Callable[[str, int], Reply]  # (webhook-id, how many times seen incl. this) -> Reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a sender that gave up or was killed mid-request
        super().handle_error(request, client_address)


class LoopbackReceiver:
    """A threaded HTTP server on ``127.0.0.1`` and a free port."""

    def __init__(
        self,
        secrets: Iterable[str] = (),
        respond: Respond | None = None,
        *,
        keep_bodies: bool = True,
    ) -> None:
        self.secrets = list(secrets)
        self.respond: Respond = respond or (lambda _id, _n: Reply())
        self.keep_bodies = keep_bodies
        self.received: list[Received] = []
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> LoopbackReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for a serve loop that must exist
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LoopbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def accepted(self) -> list[Received]:
        """Messages answered with a 2xx."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def unique_ids(self) -> set[str]:
        """Ids of messages accepted at least once (what a de-duplicating receiver keeps)."""
        return {r.webhook_id for r in self.accepted()}

    def _verify(self, body: bytes, headers: dict[str, str]) -> bool | None:
        if not self.secrets:
            return None
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length)
        if len(body) < length:  # the sender gave up mid-request: not a message
            handler.close_connection = True
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        wid = headers.get("webhook-id", "")
        with self._lock:
            self._seen[wid] += 1
            n = self._seen[wid]
        reply = self.respond(wid, n)
        verified = self._verify(body, headers)
        if verified is False:
            reply = Reply(status=401, body=b"bad signature")
        with self._lock:
            self.received.append(
                Received(
                    webhook_id=wid,
                    timestamp=headers.get("webhook-timestamp", ""),
                    signature=headers.get("webhook-signature", ""),
                    body=body if self.keep_bodies else b"",
                    path=handler.path,
                    host=headers.get("host", ""),
                    verified=verified,
                    status=reply.status,
                )
            )
        if reply.delay_s:
            time.sleep(reply.delay_s)
        try:
            handler.send_response(reply.status)
            for k, v in reply.headers.items():
                handler.send_header(k, v)
            handler.send_header("content-length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting: that is the point of a slow reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                receiver._handle(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return  # quiet: tests and benchmarks read ``received`` instead

        return Handler
