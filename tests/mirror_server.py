"""A local HTTP server on 127.0.0.1 that plays well-behaved and misbehaving dataset mirrors.

Each behaviour is a URL prefix; the file name follows it. ``server.base + "/"`` itself serves the
files as they are, like a plain mirror (``TINYBGN_MIRRORS=http://127.0.0.1:PORT/``):

* ``/good/``     the real bytes;
* ``/down/``     503 Service Unavailable (retried, then the next mirror);
* ``/missing/``  404 (next mirror at once);
* ``/corrupt/``  a valid gzip file whose content is wrong (checksum mismatch);
* ``/garbled/``  the real archive with a byte flipped in the middle (bad gzip);
* ``/cut/``      announces the full Content-Length, sends half and closes (interrupted);
* ``/slow/``     waits 1 s before answering (longer than a short client timeout);
* ``/trickle/``  the real bytes, one byte every ``trickle_pause`` seconds (never times out);
* ``/huge/``     announces a Content-Length of ``huge_size`` bytes (a reply far too large);
* ``/endless/``  no Content-Length, zeros until the client hangs up;
* ``/bomb/``     a small gzip file that expands to ``bomb_size`` zero bytes.

``requests`` records ``(behaviour, file name)`` for every request.
"""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def gzip_bomb(size: int) -> bytes:
    """A gzip archive of ``size`` zero bytes (about 1000 times smaller than its content)."""
    return gzip.compress(bytes(size), compresslevel=9, mtime=0)


class MirrorServer:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` under one prefix per behaviour.

    Use as a context manager; ``mirror(mode)`` is the URL prefix of a behaviour.
    """

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        trickle_pause: float = 0.05,
        huge_size: int = 400_000_000,
        bomb_size: int = 50_000_000,
    ):
        self.requests: list[tuple[str, str]] = []
        self.trickle_pause = trickle_pause
        self.huge_size = huge_size
        self.bomb_size = bomb_size
        self.bodies = {
            "good": files,
            "slow": files,
            "cut": files,
            "trickle": files,
            "corrupt": {n: self.wrong_content(b) for n, b in files.items()},
            "garbled": {n: self.flipped_byte(b) for n, b in files.items()},
        }
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                parts = self.path.lstrip("/").split("/", 1)
                mode, name = ("good", parts[0]) if len(parts) == 1 else parts
                server.requests.append((mode, name))
                if mode == "down":
                    return self.send_error(503)
                if mode == "bomb" and name in files:
                    server.bodies.setdefault("bomb", {})[name] = gzip_bomb(server.bomb_size)
                if mode in ("huge", "endless"):
                    if name not in files:
                        return self.send_error(404)
                    return server.flood(self, announce=mode == "huge")
                if name not in server.bodies.get(mode, {}):
                    return self.send_error(404)
                body = server.bodies[mode][name]
                if mode == "slow":
                    time.sleep(1.0)
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if mode == "trickle":
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(server.trickle_pause)
                    else:
                        self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @classmethod
    def of_folder(cls, folder: Path, **kwargs) -> MirrorServer:
        """A server for every file in ``folder``."""
        return cls(
            {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}, **kwargs
        )

    def flood(self, handler: BaseHTTPRequestHandler, *, announce: bool) -> None:
        """Send zeros, with a huge Content-Length or none, until the client hangs up."""
        handler.close_connection = True
        try:
            handler.send_response(200)
            if announce:
                handler.send_header("Content-Length", str(self.huge_size))
            handler.end_headers()
            chunk = bytes(64 * 1024)
            for _ in range(self.huge_size // len(chunk) + 1):
                handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def wrong_content(archive: bytes) -> bytes:
        """A valid gzip file of slightly different content (fails the content checksum)."""
        content = bytearray(gzip.decompress(archive))
        content[-1] ^= 0xFF
        return gzip.compress(bytes(content), compresslevel=1)

    @staticmethod
    def flipped_byte(archive: bytes) -> bytes:
        """The archive with one byte flipped mid-stream (fails gzip's own CRC check)."""
        damaged = bytearray(archive)
        damaged[len(damaged) // 2] ^= 0xFF
        return bytes(damaged)

    def mirror(self, mode: str = "good") -> str:
        return f"{self.base}/{mode}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
