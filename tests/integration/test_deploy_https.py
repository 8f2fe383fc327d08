"""The compose file's Caddyfile, run by a real Caddy in front of a real web process."""

import http.client
import os
import shutil
import signal
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_port
from tests.support.secure_broker import make_certs
from tests.support.services import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
CADDY = shutil.which("caddy") or "/usr/bin/caddy"


@pytest.fixture
def proxied_web(tmp_path):
    """deploy/caddy/Caddyfile with its ports, certificates and upstreams moved to this test."""
    certs = make_certs(tmp_path / "certs")
    web_port, http_port, https_port, admin_port, grafana_port = (free_port() for _ in range(5))
    web = ServiceProcess(
        "web",
        tmp_path,
        {
            "SMARTCAB_DATA_DIR": str(tmp_path / "data"),
            "WEB_PORT": str(web_port),
            "WEB_HOST": "127.0.0.1",
            "WEB_LIVE": "0",
            "WEB_TRUST_PROXY": "1",  # as docker-compose.yml sets it
            "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        },
        port=web_port,
    ).start()
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    for old, new in {
        "\tauto_https off\n": f"\tauto_https off\n\tadmin 127.0.0.1:{admin_port}\n",
        ":80 {": f":{http_port} {{",
        ":443 {": f":{https_port} {{",
        ":3443 {": f":{grafana_port} {{",
        "/certs/": f"{certs}/",
        "web:5000": f"127.0.0.1:{web_port}",
        "grafana:3000": f"127.0.0.1:{free_port()}",
    }.items():
        assert old in caddyfile, old
        caddyfile = caddyfile.replace(old, new)
    conf = tmp_path / "Caddyfile"
    conf.write_text(caddyfile)
    env = {
        **os.environ,
        "WEB_DOMAIN": "localhost",
        "HTTPS_PORT": str(https_port),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "caddy-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "caddy-config"),
    }
    log = (tmp_path / "caddy.log").open("wb")
    caddy = subprocess.Popen(
        [CADDY, "run", "--config", str(conf), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Caddy makes its keys and certificates before it listens: slow on a loaded machine
        wait_port(https_port, timeout=30)
        wait_port(http_port)
        wait_port(grafana_port)
        yield {
            "grafana": grafana_port,
            "http": http_port,
            "https": https_port,
            "web": web_port,
            "ca": certs / "ca.crt",
        }
    finally:
        caddy.send_signal(signal.SIGTERM)
        caddy.wait(10)
        log.close()
        web.kill()


def test_plain_http_is_redirected_to_https(proxied_web):
    connection = http.client.HTTPConnection("127.0.0.1", proxied_web["http"], timeout=5)
    connection.request("GET", "/login?tab=doctors")
    response = connection.getresponse()
    assert response.status == 308
    assert response.getheader("Location") == (
        f"https://localhost:{proxied_web['https']}/login?tab=doctors"
    )
    connection.close()


def test_the_dashboard_is_served_over_https_with_the_projects_certificate(proxied_web):
    url = f"https://localhost:{proxied_web['https']}/login"
    trusting = ssl.create_default_context(cafile=str(proxied_web["ca"]))
    # as Python 3.13 and browsers check it: key usage, key identifiers, constraints
    trusting.verify_flags |= ssl.VERIFY_X509_STRICT
    with urllib.request.urlopen(url, context=trusting, timeout=10) as response:
        body = response.read().decode()
        headers = response.headers
    assert response.status == 200
    assert "Health Plus" in body
    # the web's own answer, its security headers intact through the proxy
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    # the web knows it is served over HTTPS: HSTS, and cookies only over TLS
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = headers.get_all("Set-Cookie")
    assert cookies and all("Secure" in cookie for cookie in cookies), cookies
    # and a client that does not trust the project's CA is refused
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=10)
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def status_and_headers(url: str, context: ssl.SSLContext) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers)


def test_grafana_has_an_origin_of_its_own_and_none_on_the_dashboards(proxied_web):
    trusting = ssl.create_default_context(cafile=str(proxied_web["ca"]))
    # on the dashboard's origin /grafana/ is only another page the web does not have
    dashboard = f"https://localhost:{proxied_web['https']}/grafana/login"
    status, headers = status_and_headers(dashboard, trusting)
    assert status == 404
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    # Grafana's own port goes to Grafana (not running here: Caddy answers 502), over TLS
    status, headers = status_and_headers(
        f"https://localhost:{proxied_web['grafana']}/login", trusting
    )
    assert status == 502
    assert "Content-Security-Policy" not in headers
