"""An https receiver: the connection goes to the checked address, and the certificate is checked against the
URL's host name."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from webhooks import transport


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 with a certificate for "localhost" from a CA this process trusts."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "1", "-subj", "/CN=Test CA", cwd=tmp_path)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=tmp_path)  # fmt: skip
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf", cwd=tmp_path)  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the default context reads it

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's hook name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_https_to_the_pinned_address_checks_the_certificate_of_the_host_name(tls_receiver) -> None:
    """https://localhost:… connects to 127.0.0.1 and verifies the certificate as localhost's."""
    answer = transport.post(
        f"https://localhost:{tls_receiver}/hooks", b"{}", {}, timeout=5, allow_private=True
    )
    assert answer.status == 204


def test_a_certificate_for_another_name_is_refused(tls_receiver) -> None:
    """The same server reached as https://127.0.0.1:… fails: its certificate names localhost only."""
    with pytest.raises(Exception, match=r"(?i)certificate|hostname"):
        transport.post(f"https://127.0.0.1:{tls_receiver}/hooks", b"{}", {}, timeout=5, allow_private=True)
