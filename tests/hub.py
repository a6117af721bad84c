"""A stand-in Hugging Face Hub on 127.0.0.1, and a forward proxy, for the download tests.

The hub answers the two requests ``huggingface_hub.hf_hub_download`` makes for a file: ``HEAD
/<repo>/resolve/<revision>/<file>`` (the commit, the file's SHA-256 as its ETag, its size) and
the ``GET`` of the same address. ``tamper`` serves other bytes than the published digest, as a
broken mirror would.
"""

from __future__ import annotations

import hashlib
import threading
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _HubHandler(BaseHTTPRequestHandler):
    server: _Hub

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _file(self) -> bytes | None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        repo, name = "/".join(parts[:2]), "/".join(parts[4:])
        return self.server.files.get((repo, name))

    def _answer(self, with_body: bool) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        data = self._file()
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = data + b"tampered" if self.server.tamper else data
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_GET(self) -> None:
        self._answer(True)


class _Hub(ThreadingHTTPServer):
    files: dict[tuple[str, str], bytes]
    requests: list[str]
    tamper: bool


@contextmanager
def _serving(server: ThreadingHTTPServer):
    """Serve on a background thread; yields the server with its ``url`` and ``requests``."""
    server.requests = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def stand_in_hub(files: dict[tuple[str, str], bytes], tamper: bool = False):
    """Serve ``{(repo, filename): bytes}`` on 127.0.0.1; yields the server (``.url``)."""
    server = _Hub(("127.0.0.1", 0), _HubHandler)
    server.files, server.tamper = files, tamper
    with _serving(server) as running:
        yield running


class _ProxyHandler(BaseHTTPRequestHandler):
    """Relays absolute-URL requests (``GET http://host/path``), as an HTTP proxy does."""

    server: _Proxy

    def log_message(self, *args) -> None:
        pass

    def _relay(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        request = urllib.request.Request(self.path, method=self.command, headers=dict(self.headers))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            response = opener.open(request, timeout=10)
        except urllib.error.HTTPError as err:
            response = err
        body = response.read()
        self.send_response(response.status)
        for key, value in response.headers.items():
            if key.lower() not in ("transfer-encoding", "connection"):
                self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _relay


class _Proxy(ThreadingHTTPServer):
    requests: list[str]


@contextmanager
def forward_proxy():
    """An HTTP proxy on 127.0.0.1 that records what it relayed; yields the server (``.url``)."""
    with _serving(_Proxy(("127.0.0.1", 0), _ProxyHandler)) as running:
        yield running
