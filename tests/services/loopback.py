"""The HTTP plumbing the loopback servers share: a free 127.0.0.1 port, a thread, one dispatch.

A server subclasses ``LoopbackHttpServer`` and answers ``serve_request``; what it
answers (the YARN ResourceManager's REST API, the Kubernetes API...) is its own.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, Any, dict[str, str]]  # status, JSON payload (or text), extra headers


class LoopbackHttpServer:
    """An HTTP/1.1 server on a free loopback port, serving from a daemon thread until ``stop``."""

    def __init__(self, name: str) -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def _start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def serve_request(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
                      headers: Message) -> Answer:
        raise NotImplementedError


def _handler_for(server: LoopbackHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two sends: with Nagle on, each answer would wait for the
        # client's delayed ACK (about 40 ms), which made one crash-property example take a second.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            code, payload, extra = server.serve_request(self.command, split.path, urllib.parse.parse_qs(split.query),
                                                        body, self.headers)
            is_text = isinstance(payload, str)
            data = payload.encode() if is_text else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if is_text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the servers' request logs
            pass

    return Handler


__all__ = ["Answer", "LoopbackHttpServer"]
