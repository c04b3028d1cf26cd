"""A streamed GET (a log, a watch) goes out on the ApiClient's own connection pool, as ``call_api``
would send it: the same request line, the same headers (token, defaults, cookie), the same errors."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from controller.kubernetes.client import ApiStatusError, KubeClient, RetryPolicy

NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


def _api_client(url: str) -> Any:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"BearerToken": "s3cret"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    api = client.ApiClient(configuration, header_name="X-Extra", header_value="1", cookie="session=abc")
    return api


def _kube(url: str, *, direct: bool) -> KubeClient:
    kube = KubeClient(_api_client(url), retry=NO_WAIT, sleep=lambda _: None)
    if not direct:
        kube._pool = lambda: None  # type: ignore[method-assign]  # every request through call_api
    return kube


def _seen(request: Request) -> tuple[str, str, dict[str, str], dict[str, str]]:
    skip = {"host", "accept-encoding", "connection"}
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in skip}
    return request.method, request.path, dict(request.args), headers


def test_a_log_read_sends_what_call_api_sends(httpserver: HTTPServer) -> None:
    seen: list[tuple[str, str, dict[str, str], dict[str, str]]] = []

    def answer(request: Request) -> Response:
        seen.append(_seen(request))
        return Response(b"2024-01-01T00:00:00.000000000Z throughput=10\n", content_type="text/plain")

    path = "/prefix/api/v1/namespaces/ns/pods/p-1/log"
    httpserver.expect_request(path).respond_with_handler(answer)
    url = httpserver.url_for("/prefix")
    logs = [b"".join(_kube(url, direct=direct).read_log("ns", "p-1", "benchmark")) for direct in (True, False)]
    assert logs[0] == logs[1] == b"2024-01-01T00:00:00.000000000Z throughput=10\n"
    direct, through_call_api = seen
    assert direct == through_call_api
    method, path_seen, query, headers = direct
    assert (method, path_seen, query) == ("GET", path, {"container": "benchmark", "timestamps": "true"})
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["x-extra"] == "1" and headers["cookie"] == "session=abc"
    assert headers["accept"] == "application/json" and headers["user-agent"].startswith("OpenAPI-Generator/")


@pytest.mark.parametrize("direct", [True, False])
def test_log_read_errors_are_call_apis(httpserver: HTTPServer, direct: bool) -> None:
    """404 (no pod) and 400 (the container never started) give no log; a 5xx is retried as the
    policy says, then raised with the API's message."""
    base = "/api/v1/namespaces/ns/pods"
    httpserver.expect_request(f"{base}/gone/log").respond_with_json(
        {"kind": "Status", "code": 404, "message": 'pods "gone" not found'}, status=404)
    httpserver.expect_request(f"{base}/waiting/log").respond_with_json(
        {"kind": "Status", "code": 400, "message": "container is waiting to start"}, status=400)
    httpserver.expect_request(f"{base}/down/log").respond_with_json(
        {"kind": "Status", "code": 503, "message": "etcd is sulking"}, status=503)
    kube = _kube(httpserver.url_for(""), direct=direct)
    assert list(kube.read_log("ns", "gone", "benchmark")) == []
    assert list(kube.read_log("ns", "waiting", "benchmark")) == []
    with pytest.raises(ApiStatusError, match="503: etcd is sulking") as raised:
        list(kube.read_log("ns", "down", "benchmark"))
    assert raised.value.status == 503
    assert sum(1 for request, _ in httpserver.log if request.path.endswith("/down/log")) == NO_WAIT.attempts


def test_the_pool_is_fetched_again_once_closed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/namespaces/ns/pods/p/log").respond_with_data(b"x\n")
    kube = _kube(httpserver.url_for(""), direct=True)
    assert b"".join(kube.read_log("ns", "p", "benchmark")) == b"x\n"
    first = kube._pool()
    assert first is not None
    kube._api.rest_client.pool_manager.clear()  # dropped by the manager and closed (as ApiClient.close does)
    first.pool.close()
    assert b"".join(kube.read_log("ns", "p", "benchmark")) == b"x\n"
    again = kube._pool()
    assert again is not None and again is not first and again.pool is not first.pool


def test_through_a_proxy_every_request_goes_through_call_api() -> None:
    """The client's proxy manager chooses the route (and any proxy headers): no pool of ours."""
    api = _api_client("https://kubernetes.example:6443")
    api.configuration.proxy = "http://proxy.example:3128"
    from kubernetes.client import rest

    api.rest_client = rest.RESTClientObject(api.configuration)  # as ApiClient builds it, now with the proxy
    assert KubeClient(api)._pool() is None
    assert KubeClient(_api_client("https://kubernetes.example:6443"))._pool() is not None


def _certificates(tmp_path: Any) -> tuple[str, Any]:
    """A CA's certificate file and a server TLS context for 127.0.0.1 signed by it."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return str(ca_file), context


def test_over_tls_the_clients_ca_is_trusted_and_no_other(tmp_path: Any) -> None:
    """The connections are the client's pool's: its CA file verifies the API's certificate (and the
    name in it), and a certificate it does not trust is an error, not retried."""
    ca_file, context = _certificates(tmp_path)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.expect_request("/api/v1/namespaces/ns/pods/p/log").respond_with_data(b"over tls\n")
    server.start()
    try:
        api = _api_client(server.url_for(""))
        assert api.configuration.host.startswith("https://")
        api.configuration.ssl_ca_cert = ca_file
        from kubernetes.client import rest

        api.rest_client = rest.RESTClientObject(api.configuration)
        kube = KubeClient(api, retry=NO_WAIT, sleep=lambda _: None)
        assert [b"".join(kube.read_log("ns", "p", "benchmark")) for _ in range(2)] == [b"over tls\n"] * 2
        direct = kube._pool()
        assert direct is not None and direct.opened == 2  # werkzeug answers HTTP/1.0, Connection: close
        untrusting = KubeClient(_api_client(server.url_for("")), retry=NO_WAIT, sleep=lambda _: None)
        with pytest.raises(ApiStatusError, match="SSLError") as raised:
            list(untrusting.read_log("ns", "p", "benchmark"))
        assert raised.value.status == 0
        assert len(server.log) == 2  # the refused handshake sent no request
    finally:
        server.stop()


def test_the_token_refresh_hook_runs_for_each_direct_get(httpserver: HTTPServer) -> None:
    """As call_api does (update_params_for_auth): an expiring token (exec plugins, OIDC) is renewed."""
    tokens = iter(["first", "second"])
    seen: list[str] = []

    def answer(request: Request) -> Response:
        seen.append(request.headers["Authorization"])
        return Response(b"x\n")

    httpserver.expect_request("/api/v1/namespaces/ns/pods/p/log").respond_with_handler(answer)
    api = _api_client(httpserver.url_for(""))
    api.configuration.refresh_api_key_hook = lambda config: config.api_key.update(BearerToken=next(tokens))
    kube = KubeClient(api, retry=NO_WAIT, sleep=lambda _: None)
    for _ in range(2):
        assert b"".join(kube.read_log("ns", "p", "benchmark")) == b"x\n"
    assert seen == ["Bearer first", "Bearer second"]
