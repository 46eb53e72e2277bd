"""A local image server on 127.0.0.1 with injectable faults, for downloader tests and benchmarks.

It runs in a background thread (thread per connection, HTTP/1.1 keep-alive), so it keeps
serving while a test waits on a subprocess. Faults are set per path and can apply to the
first N requests only, which is how "fails twice, then works" retries are tested.

    with ImageServer(latency_s=0.05) as server:
        server.add_image("/photos/a", (255, 0, 0))
        server.inject("/photos/b", Fault("status", status=500), times=2)
        url = server.url("/photos/a")
"""

from __future__ import annotations

import io
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

from PIL import Image

FaultKind = Literal[
    "status",  # an HTTP error status (``status``), with Retry-After if ``retry_after`` is set
    "delay",  # sleep ``seconds`` before answering (a timeout for a short client timeout)
    "reset",  # close the connection with a TCP RST before any response
    "truncate",  # announce the full length, send half the body, close
    "html",  # 200 with an HTML page, content-type text/html
    "html_as_image",  # 200 with an HTML page claiming content-type image/jpeg
    "oversize",  # 200 with a body of ``size`` bytes and a Content-Length saying so
    "oversize_stream",  # the same without Content-Length (read until the connection closes)
    "stall",  # send half the body, then wait until ``release()`` (a download caught mid-body)
]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int = 500
    seconds: float = 0.0
    size: int = 0
    retry_after: float | None = None


HTML = b"<!DOCTYPE html><html><head><title>Not here</title></head><body>404</body></html>"


def jpeg_bytes(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 48),
               noise: bool = False, seed: int = 0) -> bytes:
    """A JPEG of one colour; ``noise`` makes it realistically large (photo-like entropy)."""
    image = Image.new("RGB", size, rgb)
    if noise:
        rng = random.Random(seed)
        image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


class ImageServer:
    def __init__(self, latency_s: float = 0.0, split_body: bool = False) -> None:
        """``latency_s`` is added to every request; with ``split_body`` it is spent between
        the two halves of the body (so a kill mid-run catches downloads mid-body)."""
        self.latency_s = latency_s
        self.split_body = split_body
        self.files: dict[str, tuple[bytes, str]] = {}
        self.faults: dict[str, tuple[Fault, int | None]] = {}
        self.requests: Counter[str] = Counter()
        self.queries: dict[str, str] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- content and faults -------------------------------------------------------------
    def add_image(self, path: str, rgb: tuple[int, int, int] = (200, 30, 30),
                  size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
        body = jpeg_bytes(rgb, size, noise=noise, seed=len(self.files))
        self.add_file(path, body, "image/jpeg")
        return body

    def add_file(self, path: str, body: bytes, content_type: str) -> None:
        self.files[path] = (body, content_type)

    def inject(self, path: str, fault: Fault, times: int | None = None) -> None:
        """Apply ``fault`` to requests for ``path``: the next ``times`` ones, or all."""
        with self._lock:
            self.faults[path] = (fault, times)

    def release(self) -> None:
        """Let every "stall" response finish its body."""
        self._released.set()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.requests[path] += 1
            entry = self.faults.get(path)
            if entry is None:
                return None
            fault, times = entry
            if times is not None:
                if times <= 0:
                    return None
                self.faults[path] = (fault, times - 1)
            return fault

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> ImageServer:
        server = self

        class Handler(_Handler):
            owner = server

        httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,),
                                        name="image-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-body (size limit, kill -9) is expected here."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    owner: ImageServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests assert on ``owner.requests``, not on a log."""

    def do_GET(self) -> None:
        server = self.owner
        parts = urlsplit(self.path)
        path = parts.path
        server.queries[path] = parts.query
        fault = server._take_fault(path)
        if server.latency_s and not server.split_body:
            time.sleep(server.latency_s)
        if fault is not None and self._fault(fault):
            return
        entry = server.files.get(path)
        if entry is None:
            self._send(404, HTML, "text/html")
            return
        body, content_type = entry
        if server.split_body and server.latency_s:
            self._send_split(body, content_type, lambda: time.sleep(server.latency_s))
            return
        self._send(200, body, content_type)

    def _fault(self, fault: Fault) -> bool:
        """Act out a fault; False when the normal response should follow (a delay)."""
        if fault.kind == "delay":
            time.sleep(fault.seconds)
            return False
        if fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self._send(fault.status, b"server says no", "text/plain", headers)
        elif fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif fault.kind == "truncate":
            body = self.owner.files.get(urlsplit(self.path).path, (b"\xff\xd8\xff" * 100, ""))[0]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif fault.kind == "stall":
            body, content_type = self.owner.files[urlsplit(self.path).path]
            self._send_split(body, content_type, lambda: self.owner._released.wait(60))
        elif fault.kind in ("html", "html_as_image"):
            self._send(200, HTML, "text/html" if fault.kind == "html" else "image/jpeg")
        elif fault.kind == "oversize":
            self._send(200, b"\xff\xd8\xff\xe0" + b"\0" * fault.size, "image/jpeg")
        elif fault.kind == "oversize_stream":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"\xff\xd8\xff\xe0")
            for _ in range(max(1, fault.size // 65536)):
                self.wfile.write(b"\0" * 65536)
            self.close_connection = True
        return True

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_split(self, body: bytes, content_type: str, pause: Callable[[], object]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        pause()
        self.wfile.write(body[half:])
