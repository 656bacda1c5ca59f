"""HTTPS deliveries go to the address the SSRF guard checked, yet TLS still verifies the URL's host name."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secateur.kernel.settings import Settings
from secateur.kernel.webhooks.delivery import post


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for `localhost` only (no IP address in it), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[str]]]:
    """An HTTPS server on 127.0.0.1 that the client trusts (SSL_CERT_FILE); its port, and the Host headers."""
    cert, key = _self_signed(tmp_path)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            hosts.append(self.headers.get("host", ""))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield int(server.server_address[1]), hosts
    server.shutdown()
    server.server_close()


def test_a_pinned_https_delivery_verifies_the_url_host(tls_server: tuple[int, list[str]]) -> None:
    """`localhost` is connected to at 127.0.0.1, with SNI, the certificate check and Host all `localhost`."""
    port, hosts = tls_server
    settings = Settings(_env_file=None, webhook_allow_private=True)
    outcome = post(f"https://localhost:{port}/hooks", "{}", {}, settings)
    assert outcome.ok and outcome.status_code == 204
    assert hosts == [f"localhost:{port}"]
    # The same server by IP: the certificate does not name 127.0.0.1, so verification must fail.
    refused = post(f"https://127.0.0.1:{port}/hooks", "{}", {}, settings)
    assert refused.status_code is None and "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")
    assert len(hosts) == 1
