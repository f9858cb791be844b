"""A loopback HTTP server that answers the Spark REST paths badly on purpose.

Each test scripts the answers: ``server.script(answer, answer, ...)`` queues what the
next requests get (the last one repeats); ``server.route(path, answer, ...)`` does the
same for one exact path (query left out), so one server can play a master's REST
server and its web UI at once. An answer is a ``Reply`` (status, headers, body,
optional delay before answering, truncation of the body on the wire, the whole answer
trickled a byte at a time, the request's Authorization header echoed in the body).
Every request is recorded (method, path, headers, body) for assertions.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None  # send Content-Length of the whole body, then only this many bytes
    trickle: float | None = None  # seconds between bytes of the whole answer, status line included
    echo_auth: bool = False  # the body's "message" repeats the request's Authorization header

    @classmethod
    def json(cls, status: int = 200, **payload: Any) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json;charset=utf-8"})

    @classmethod
    def html(cls, status: int, text: str) -> Reply:
        page = f"<html><head><title>Error {status} {text}</title></head><body><h2>HTTP ERROR {status} {text}</h2></body></html>"
        return cls(status, page.encode(), {"Content-Type": "text/html;charset=iso-8859-1"})


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


class MisbehavingServer:
    def __init__(self, tls: tuple[str, str] | None = None, *, client_ca: str | None = None) -> None:
        self.replies: list[Reply] = [Reply.json(success=False)]
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Jetty does

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append(Seen(self.command, self.path, dict(self.headers), body, self.client_address[1]))
                    queue = outer.routes.get(self.path.split("?", 1)[0], outer.replies)
                    reply = queue.pop(0) if len(queue) > 1 else queue[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.echo_auth:
                    echoed = {"success": False, "message": f"rejected header Authorization: "
                              f"{self.headers.get('Authorization')} (token {self.headers.get('Authorization', '').split(' ')[-1]})"}
                    reply = Reply(reply.status, json.dumps(echoed).encode(), {"Content-Type": "application/json"})
                if reply.trickle is not None:
                    self._trickle(reply)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body[: reply.truncate_to] if reply.truncate_to is not None else reply.body)
                if reply.truncate_to is not None:
                    self.close_connection = True

            def _trickle(self, reply: Reply) -> None:
                head = f"HTTP/1.1 {reply.status} OK\r\nContent-Length: {len(reply.body)}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items()) + "\r\n"
                self.close_connection = True
                for byte in head.encode() + reply.body:
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up: what the tests want
                    assert reply.trickle is not None
                    time.sleep(reply.trickle)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # The client hanging up on a slow or truncated answer is the point of those tests.
        self.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        scheme = "http"
        if tls is not None:  # (certificate file, key file)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            if client_ca is not None:  # TLS 1.3 only: a client without a certificate learns of it after sending
                context.minimum_version = ssl.TLSVersion.TLSv1_3
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(client_ca)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies = list(replies)
            self.requests.clear()

    def route(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.routes[path] = list(replies)


@contextmanager
def misbehaving_server(tls: tuple[str, str] | None = None, *, client_ca: str | None = None) -> Iterator[MisbehavingServer]:
    server = MisbehavingServer(tls, client_ca=client_ca)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(5)
