"""config/nginx/vidjil.conf for real: Debian's nginx with a self-signed certificate
on loopback ports, in front of `vidjil view --proxy --token-file`, checked through
HTTPS (pages, token, read-only, gzip, cached static assets, HTTP redirect)."""

from __future__ import annotations

import gzip
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, cannot_run

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl")
TOKEN = "s3cret-token-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} not listening on {port}")


def site_config(view_port: int, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    """The shipped site with its ADAPT lines set for loopback ports (IPv4 only)."""
    text = (ROOT / "config/nginx/vidjil.conf").read_text()
    text = re.sub(r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{view_port};", text)
    text = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", text)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = text.replace("/etc/ssl/vidjil/vidjil.crt", str(cert)).replace("/etc/ssl/vidjil/vidjil.key", str(key))
    text = text.replace("vidjil.lab.example", "localhost")
    text = text.replace("/var/log/nginx/vidjil.access.log", str(cert.parent / "vidjil.access.log"))
    assert str(cert) in text and f":{https_port} ssl" in text and f":{view_port};" in text
    return text


@dataclass
class Front:
    https_port: int
    http_port: int
    context: ssl.SSLContext
    logs: Path

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection("localhost", self.https_port, context=self.context, timeout=30)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data


@pytest.fixture(scope="module")
def front(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    if not (Path(NGINX).exists() and OPENSSL):
        cannot_run("nginx and openssl not installed (`make system-deps` as root)")
    tmp = tmp_path_factory.mktemp("nginx")
    cert, key = tmp / "vidjil.crt", tmp / "vidjil.key"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    view_port, http_port, https_port = free_port(), free_port(), free_port()
    viewer = subprocess.Popen(
        [sys.executable, "-m", "vidjil.cli", "view", str(demo / "results"), "--port", str(view_port),
         "--token-file", str(token_file), "--proxy"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    (tmp / "site.conf").write_text(site_config(view_port, http_port, https_port, cert, key))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n include /etc/nginx/mime.types;\n access_log {tmp}/access.log;\n"
        + "".join(f" {kind}_temp_path {tmp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f" include {tmp}/site.conf;\n}}\n"
    )
    main = [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
    checked = subprocess.run([*main, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen([*main, "-g", "daemon off;"])
    try:
        wait_for(view_port, viewer, "vidjil view")
        wait_for(https_port, nginx, "nginx")
        yield Front(https_port, http_port, ssl.create_default_context(cafile=str(cert)), tmp)
    finally:
        nginx.terminate()
        viewer.terminate()
        nginx.wait(timeout=10)
        viewer.wait(timeout=10)


AUTH = {"X-Vidjil-Token": TOKEN}


def test_pages_load_through_https_with_the_token(front: Front) -> None:
    status, headers, body = front.request("GET", "/", AUTH)
    assert status == 200 and b"P1" in body
    assert headers["strict-transport-security"].startswith("max-age=")
    assert "script-src 'self'" in headers["content-security-policy"]
    status, _, body = front.request("GET", "/set/P1", AUTH)
    assert status == 200 and b"P1-followup-2" in body


def test_the_token_is_required(front: Front) -> None:
    status, _, body = front.request("GET", "/")
    assert status == 401 and b"token" in body
    status, _, _ = front.request("GET", "/", {"X-Vidjil-Token": "wrong"})
    assert status == 401
    # A ?token= link sets a cookie (Secure: the viewer sees HTTPS through the proxy) and
    # redirects to the same page without the token.
    status, headers, _ = front.request("GET", f"/set/P1?token={TOKEN}")
    assert status == 302 and headers["location"] == "/set/P1"
    cookie = headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    status, _, _ = front.request("GET", "/set/P1", {"Cookie": cookie.split(";")[0]})
    assert status == 200
    # The site's log keeps the path, not the query string with the token.
    log = (front.logs / "vidjil.access.log").read_text()
    assert '"GET /set/P1 HTTP/1.1" 302' in log and TOKEN not in log


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_writes_are_refused(front: Front, method: str) -> None:
    status, _, _ = front.request(method, "/", {**AUTH, "Content-Type": "application/json"}, b'{"a": 1}')
    assert status == 405


def test_request_bodies_are_refused(front: Front) -> None:
    status, _, _ = front.request("GET", "/", {**AUTH, "Content-Type": "text/plain"}, b"x" * 4096)
    assert status == 413


def test_json_and_html_are_compressed_and_static_assets_cached(front: Front) -> None:
    status, headers, body = front.request("GET", "/set/P1", {**AUTH, "Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert b"P1-diagnosis" in gzip.decompress(body)
    status, headers, body = front.request("GET", "/static/app.js", {**AUTH, "Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert headers["cache-control"] == "max-age=86400"
    assert "expires" in headers


def test_plain_http_redirects_to_https(front: Front) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", front.http_port, timeout=10)
    conn.request("GET", "/set/P1", headers={"Host": "localhost"})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://localhost/set/P1"
