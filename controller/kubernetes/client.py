"""The one class that talks to the Kubernetes API (through the official ``kubernetes`` client).

Raw JSON in and out (no model classes: thousands of runs are listed and watched, and the controller
needs a few fields of each), read with ``orjson`` (about 2.8 times ``json``'s rate on a Job of ours:
decoding watch events was the largest part of the controller's work in a burst of completions).
One :meth:`KubeClient._request` owns retries: 5xx, 429 and dropped connections are retried as
:data:`KUBERNETES_RETRY` (a :class:`~controller.retrying.RetryPolicy`) says, honouring
``Retry-After``. Watches are streamed line by line by :meth:`KubeClient.watch` and retried by
:mod:`controller.kubernetes.watching`; streamed GETs (watches, logs) are written and read by ``http.client`` through
:mod:`controller.kubernetes.lean_http` on connections the API client's own pool makes
(:meth:`KubeClient._get_stream`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.kubernetes.lean_http import DirectGets, HttpStatusError
from controller.retrying import RetryPolicy as RetryPolicy  # re-exported: callers build clients with it
from controller.retrying import retry_after_seconds
from schemas.errors import BackendError, NotFoundError

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
FOLLOW_READ_TIMEOUT = 24 * 3600.0  # a followed log may stay quiet for long


@dataclass(frozen=True)
class Resource:
    """A kind the controller reads: where its API lives."""

    kind: str
    group_version: str  # "v1", "batch/v1", "kubeflow.org/v2beta1"
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        ns = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{ns}/{self.plural}" + (f"/{name}" if name else "")


JOBS = Resource("Job", "batch/v1", "jobs")
CRONJOBS = Resource("CronJob", "batch/v1", "cronjobs")
PODS = Resource("Pod", "v1", "pods")
MPIJOBS = Resource("MPIJob", "kubeflow.org/v2beta1", "mpijobs")
NODES = Resource("Node", "v1", "nodes", namespaced=False)
# Kueue (docs/gpu-fleet.md): a queued run's Workload, its queues, and the visibility API's pending list
# (``<local queue>/pendingworkloads`` as the name: a subresource of the LocalQueue).
WORKLOADS = Resource("Workload", "kueue.x-k8s.io/v1beta2", "workloads")
LOCALQUEUES = Resource("LocalQueue", "kueue.x-k8s.io/v1beta2", "localqueues")
CLUSTERQUEUES = Resource("ClusterQueue", "kueue.x-k8s.io/v1beta2", "clusterqueues", namespaced=False)
PENDING_WORKLOADS = Resource("PendingWorkloadsSummary", "visibility.kueue.x-k8s.io/v1beta2", "localqueues")


class ApiStatusError(BackendError):
    """The API answered with an error status (after retries, for retryable ones)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class GoneError(ApiStatusError):
    """410 Gone: the resourceVersion asked for is older than the API keeps; list again."""


class ErrorCounter(Protocol):
    def api_error(self, operation: str) -> None: ...


#: The client's default: 6 tries, 0.2 s doubled up to 30 s, half of each wait drawn at random.
KUBERNETES_RETRY = RetryPolicy(attempts=6, base_delay=0.2, max_delay=30.0)


class KubeClient:
    """Jobs, CronJobs, Pods, MPIJobs and Nodes, as dicts; built from a configured ``ApiClient``."""

    def __init__(
        self,
        api_client: Any,
        *,
        retry: RetryPolicy = KUBERNETES_RETRY,
        errors: ErrorCounter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        request_timeout: float = 30.0,
    ) -> None:
        self._api = api_client
        self._retry = retry
        self._errors = errors
        self._sleep = sleep
        self._timeout = request_timeout
        self._direct: DirectGets | None = None  # streamed GETs on the API host's connection pool (_pool)
        self._prefix = ""

    @classmethod
    def from_config(cls, *, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False,
                    errors: ErrorCounter | None = None) -> KubeClient:
        from kubernetes import client, config

        try:
            if in_cluster:
                config.load_incluster_config()
                configuration = client.Configuration.get_default_copy()
            else:
                configuration = client.Configuration()
                config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        except Exception as e:  # noqa: BLE001 - the config loaders raise many kinds
            where = "the in-cluster service account" if in_cluster else (kubeconfig or "~/.kube/config")
            raise BackendError(f"cannot load the Kubernetes configuration from {where} ({e}); "
                               "pass --kubeconfig or --in-cluster") from e
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 4, 32)
        return cls(client.ApiClient(configuration), errors=errors)

    # -- reads ------------------------------------------------------------------------------------

    def list_all(self, resource: Resource, namespace: str | None, selector: str, *,
                 resource_version: str = "") -> tuple[list[dict[str, Any]], str]:
        """Every object matching ``selector`` and the list's resourceVersion (to watch from).

        Pages of 500 (``limit``/``continue``). A ``continue`` token the API no longer keeps (``410
        Gone``: its resourceVersion was compacted, after about five minutes) starts the list over, as
        the API's message asks. ``resource_version="0"`` lets the API answer from its watch cache."""
        for attempt in range(3):
            try:
                return self._list_pages(resource, namespace, selector, resource_version)
            except GoneError:
                if attempt == 2 or resource_version not in ("", "0"):
                    raise
                log.info("listing %s: the continue token expired; listing again from the start", resource.plural)
        raise AssertionError("unreachable")

    def _list_pages(self, resource: Resource, namespace: str | None, selector: str,
                    resource_version: str) -> tuple[list[dict[str, Any]], str]:
        listing = self.listing(resource, namespace, selector, resource_version=resource_version)
        items = list(listing)
        return items, listing.resource_version

    def listing(self, resource: Resource, namespace: str | None, selector: str, *,
                resource_version: str = "") -> Listing:
        """Every object matching ``selector``, one page (500) at a time as it is iterated: a watch's
        list never holds more than a page of raw objects (thousands of runs, a few KiB each as JSON
        and several times that as dicts). An expired ``continue`` token raises :class:`GoneError`
        from the iteration: the caller lists again."""
        return Listing(self, resource, namespace, selector, resource_version)

    def watch(self, resource: Resource, namespace: str | None, selector: str, resource_version: str,
              timeout_seconds: int) -> Iterator[dict[str, Any]]:
        """The watch events after ``resource_version``, as the API sends them; ends when the server
        ends the stream. Raises :class:`GoneError` (410) and connection errors for the caller."""
        query = {"labelSelector": selector, "watch": "true", "resourceVersion": resource_version,
                 "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true"}
        response = self._request("GET", resource.path(namespace), query, operation=f"watch {resource.plural}",
                                 timeout=timeout_seconds + 15, stream=True)
        from orjson import loads

        try:
            pending = b""
            for chunk in response.stream(65536, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield loads(line)
            if pending.strip():
                yield loads(pending)
        finally:
            response.release_conn()

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        return self._json("GET", resource.path(namespace, name), {}, operation=f"get {resource.plural}")

    def find_by_label(self, resource: Resource, namespace: str, selector: str) -> list[dict[str, Any]]:
        items, _ = self.list_all(resource, namespace, selector)
        return items

    def read_log(self, namespace: str, pod: str, container: str, *, timestamps: bool = True) -> Iterator[bytes]:
        """The container's log as chunks of bytes (streamed; a missing pod or log gives nothing)."""
        query: dict[str, Any] = {"container": container, "timestamps": "true" if timestamps else "false"}
        try:
            response = self._request("GET", PODS.path(namespace, pod) + "/log", query, operation="read log",
                                     stream=True, timeout=300)
        except NotFoundError:
            return
        except ApiStatusError as e:
            if e.status == 400:  # container never started: "waiting to start" / "is terminated"
                log.info("no log of %s/%s container %s: %s", namespace, pod, container, e)
                return
            raise
        try:
            yield from response.stream(65536, decode_content=True)
        finally:
            response.release_conn()

    def stream_log(self, namespace: str, pod: str, container: str, *, follow: bool = False,
                   tail_lines: int | None = None, timestamps: bool = True) -> Iterator[bytes]:
        """Read-only, for ``anubis logs``: the container's log as chunks, the last ``tail_lines`` only,
        and with ``follow`` kept open (the API ends it when the container ends; the read timeout is
        :data:`FOLLOW_READ_TIMEOUT`, a quiet benchmark is not an error). A pod or container that is
        gone or has not started gives nothing."""
        query: dict[str, Any] = {"container": container, "timestamps": "true" if timestamps else "false"}
        if follow:
            query["follow"] = "true"
        if tail_lines is not None:
            query["tailLines"] = tail_lines
        try:
            response = self._request("GET", PODS.path(namespace, pod) + "/log", query, operation="read log",
                                     stream=True, timeout=FOLLOW_READ_TIMEOUT if follow else 300)
        except NotFoundError:
            return
        except ApiStatusError as e:
            if e.status == 400:
                log.info("no log of %s/%s container %s: %s", namespace, pod, container, e)
                return
            raise
        try:
            yield from response.stream(65536, decode_content=True)
        finally:
            response.release_conn()

    # -- writes -----------------------------------------------------------------------------------

    def patch(self, resource: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of the object."""
        return self._json("PATCH", resource.path(namespace, name), {}, body=dict(body), content_type=MERGE_PATCH,
                          operation=f"patch {resource.plural}")

    def suspend(self, resource: Resource, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        """Suspend a Job/CronJob (``spec.suspend``) or MPIJob (``spec.runPolicy.suspend``) and set
        ``annotations`` in the same patch."""
        spec: dict[str, Any] = {"runPolicy": {"suspend": True}} if resource is MPIJOBS else {"suspend": True}
        self._patch_only(resource, namespace, name, {"metadata": {"annotations": dict(annotations)}, "spec": spec})

    def annotate(self, resource: Resource, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        self._patch_only(resource, namespace, name, {"metadata": {"annotations": dict(annotations)}})

    def _patch_only(self, resource: Resource, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        """A merge patch whose answer (the whole object, which the watch brings anyway) is read and
        dropped unparsed: one report's annotation is one of thousands in a burst of completions."""
        response = self._request("PATCH", resource.path(namespace, name), {}, body=dict(body),
                                 content_type=MERGE_PATCH, operation=f"patch {resource.plural}")
        try:
            response.read()
        finally:
            response.release_conn()

    # -- transport --------------------------------------------------------------------------------

    def _json(self, method: str, path: str, query: Mapping[str, Any], *, operation: str,
              body: Any = None, content_type: str | None = None) -> dict[str, Any]:
        from orjson import loads

        response = self._request(method, path, query, operation=operation, body=body, content_type=content_type)
        data = response.data
        result: dict[str, Any] = loads(data) if data else {}
        return result

    def _request(self, method: str, path: str, query: Mapping[str, Any], *, operation: str, body: Any = None,
                 content_type: str | None = None, stream: bool = False, timeout: float | None = None) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        attempt = 0
        while True:
            attempt += 1
            try:
                direct = self._pool() if method == "GET" and stream else None
                if direct is not None:
                    return self._get_stream(direct, path, query, dict(headers), timeout or self._timeout)
                return self._api.call_api(
                    path, method, query_params=list(query.items()), header_params=dict(headers), body=body,
                    auth_settings=["BearerToken"], _preload_content=False,
                    _return_http_data_only=True, _request_timeout=timeout or self._timeout,
                )
            except ApiException as e:
                status = int(e.status or 0)
                retry_after = _retry_after(e.headers)
                message = _api_message(e)
                if status == 404:
                    raise NotFoundError(f"{operation}: {path} was not found ({message})") from e
                if status == 410:
                    raise GoneError(410, f"{operation}: {message}") from e
                retryable = status == 429 or status >= 500
                self._count(operation)
                if not retryable or not self._retry.may_retry(attempt):
                    raise ApiStatusError(status, f"the Kubernetes API refused to {operation} ({status}: {message})",
                                         retry_after) from e
                delay = self._retry.delay(attempt, retry_after=retry_after)
            except (HTTPError, OSError) as e:
                self._count(operation)
                if not self._retry.may_retry(attempt):
                    raise ApiStatusError(0, f"cannot reach the Kubernetes API to {operation} ({e})") from e
                delay = self._retry.delay(attempt)
            log.debug("retrying %s in %.2fs (attempt %d)", operation, delay, attempt)
            self._sleep(delay)

    def _get_stream(self, direct: DirectGets, path: str, query: Mapping[str, Any], headers: dict[str, str],
                    timeout: float) -> Any:
        """A streamed GET (a log, a watch) as ``ApiClient.call_api`` makes it, minus its generic work:
        the same headers (the client's defaults, its cookie, the bearer token from the configuration,
        refreshed by its hook as each call does), the same URL and timeout, on connections made by
        the ApiClient's own pool for the API's host (its TLS settings), written and read by
        ``http.client`` through :mod:`controller.kubernetes.lean_http`; the same
        :class:`~kubernetes.client.ApiException` for a status outside 2xx and for a TLS failure.
        ``call_api`` checks and serialises each parameter and resolves the pool from the URL on
        every call, and urllib3 takes the connection from a queue, checks it with a ``poll`` and
        wraps ``http.client``'s answer in a response object of its own: 40 % of a log read's CPU,
        and a log is read for every report. Through a proxy, or a client without that
        pool (:meth:`_pool` is None), :meth:`_request` calls ``call_api``. Like the pool manager
        the call would go through, a redirect is not followed here (the API does not send one for
        a log or a watch): it is an error status."""
        import ssl
        from urllib.parse import urlencode

        import urllib3
        from kubernetes.client.exceptions import ApiException

        api = self._api
        headers.update(api.default_headers)
        if api.cookie:
            headers["Cookie"] = api.cookie
        headers.setdefault("Content-Type", "application/json")  # as the client's rest layer sets it
        params = [(k, str(v)) for k, v in query.items()]
        api.update_params_for_auth(headers, params, ["BearerToken"])
        target = f"{self._prefix}{path}?{urlencode(params)}" if params else f"{self._prefix}{path}"
        try:
            return direct.get(target, headers, timeout)
        except (urllib3.exceptions.SSLError, ssl.SSLError, ssl.CertificateError) as e:
            raise ApiException(status=0, reason=f"SSLError\n{e}") from e
        except HttpStatusError as e:
            error = ApiException(status=e.status, reason=e.reason)
            error.headers = urllib3.HTTPHeaderDict(e.headers)
            error.body = e.body.decode("utf-8", "replace")
            raise error from None

    def _pool(self) -> DirectGets | None:
        """GETs on the ApiClient's connection pool for the API's host (``None`` through a proxy, or
        for a client without one); made again once the pool manager has closed that pool."""
        direct = self._direct
        if direct is not None and direct.pool.pool is not None:
            return direct
        import urllib3

        manager = getattr(getattr(self._api, "rest_client", None), "pool_manager", None)
        host = getattr(getattr(self._api, "configuration", None), "host", None)
        if type(manager) is not urllib3.PoolManager or not isinstance(host, str):
            return None
        self._prefix = (urllib3.util.parse_url(host).path or "").rstrip("/")
        if direct is not None:
            direct.close()
        pool = manager.connection_from_url(host)
        self._direct = direct = DirectGets(pool, keep=pool.pool.maxsize if pool.pool is not None else 32)
        return direct

    def _count(self, operation: str) -> None:
        if self._errors is not None:
            self._errors.api_error(operation)


class Listing:
    """The objects of a paged list, as an iterator (each item with its ``kind`` and ``apiVersion``,
    which a list's items lack); :attr:`resource_version` is the list's once it is exhausted."""

    PAGE = 500

    def __init__(self, client: KubeClient, resource: Resource, namespace: str | None, selector: str,
                 resource_version: str) -> None:
        self._client = client
        self._resource = resource
        self._namespace = namespace
        self._selector = selector
        self._asked = resource_version
        self.resource_version = ""
        self.pages = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        resource = self._resource
        cont = ""
        while True:
            query: dict[str, Any] = {"labelSelector": self._selector, "limit": self.PAGE}
            if self._asked and not cont:
                query["resourceVersion"] = self._asked
            if cont:
                query["continue"] = cont
            data = self._client._json("GET", resource.path(self._namespace), query,
                                      operation=f"list {resource.plural}")
            self.pages += 1
            meta = data.get("metadata") or {}
            cont = meta.get("continue") or ""
            items = data.get("items") or []
            del data  # the page's items go one by one: each is the caller's alone once handed over
            items.reverse()
            while items:
                item = items.pop()
                item.setdefault("kind", resource.kind)
                item.setdefault("apiVersion", resource.group_version)
                yield item
            if not cont:
                self.resource_version = str(meta.get("resourceVersion", ""))
                return

    def finish(self, iterator: Iterator[dict[str, Any]]) -> str:
        """Exhaust what the consumer left of ``iterator`` and answer the list's resourceVersion."""
        for _ in iterator:
            pass
        return self.resource_version


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    raw = headers.get("Retry-After")
    return retry_after_seconds(str(raw), time.time()) if raw is not None else None


def _api_message(e: Any) -> str:
    try:
        return str(json.loads(e.body).get("message") or e.reason)
    except (TypeError, ValueError, AttributeError):
        return str(e.reason)
