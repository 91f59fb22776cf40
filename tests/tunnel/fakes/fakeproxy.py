"""What the fake tunnel clients share: a loopback reverse proxy standing for the tunnel's edge.

Standard library only: the fakes run as scripts with any python3.
"""

import http.client
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host"}
_BAD_GATEWAY = b"<!DOCTYPE html><html><body><h1>Bad gateway</h1><p>Error code 502</p></body></html>"


def log_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017 — any python3


def fail(line: str) -> int:
    print(line, file=sys.stderr, flush=True)
    return 1


def start_proxy(target: str, client_header: str) -> int:
    """Serve the proxy on 127.0.0.1 (FAKE_TUNNEL_PORT or any port) in a thread; return its port.

    ``client_header``: "CF-Connecting-IP" (set) or "X-Forwarded-For" (appended to).
    """
    parts = urlsplit(target)
    client_ip = os.environ.get("FAKE_TUNNEL_CLIENT_IP", "203.0.113.7")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if client_header.lower() == "x-forwarded-for":
                earlier = self.headers.get("X-Forwarded-For")
                headers["X-Forwarded-For"] = f"{earlier}, {client_ip}" if earlier else client_ip
            else:
                headers[client_header] = client_ip
            try:
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                status, reply = answer.status, answer.read()
                reply_headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP]
                conn.close()
            except OSError:
                status, reply = 502, _BAD_GATEWAY
                reply_headers = [("Content-Type", "text/html; charset=UTF-8")]
            self.send_response(status)
            for key, value in reply_headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("FAKE_TUNNEL_PORT", "0"))), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def serve_until_exit(last_words: str) -> int:
    """Run until terminated (or FAKE_TUNNEL_EXIT_AFTER_S passed: print ``last_words``, exit 1)."""
    if os.environ.get("FAKE_TUNNEL_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exit_after = os.environ.get("FAKE_TUNNEL_EXIT_AFTER_S")
    deadline = time.monotonic() + float(exit_after) if exit_after else None
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.05)
    return fail(last_words)
