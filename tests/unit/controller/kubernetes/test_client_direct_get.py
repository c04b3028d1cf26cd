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
