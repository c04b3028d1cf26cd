"""The fake Kubernetes API is as strict as the API server where the controller depends on it (each
behaviour cited in ``tests/fakes/kubernetes_api.py``), and the controller's client copes with it."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from fakes.crd_pruning import crd_schema
from fakes.harness import rendered, wait_for
from fakes.kubernetes_api import FakeKubernetes

from controller.kubernetes.client import JOBS, PODS, ApiStatusError, KubeClient, RetryPolicy
from controller.kubernetes.reconciler import Controller
from controller.kubernetes.settings import ControllerSettings
from controller.kubernetes.watching import Watcher
from controller.sqlite_store import SqliteResultStore

NS = "anubis-runs"


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "labels": labels or {"app.kubernetes.io/managed-by": "anubis"}},
            "spec": {"containers": [{"name": "benchmark", "image": "x"}]}, "status": {"phase": "Pending"}}


def get(api: FakeKubernetes, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(api.url + path, timeout=10) as response:  # noqa: S310 - a local fake
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def watch_events(api: FakeKubernetes, path: str, until: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The first ``until`` events of a watch (or all of them when the server ends it sooner)."""
    events: list[dict[str, Any]] = []
    with urllib.request.urlopen(api.url + path, timeout=timeout) as response:  # noqa: S310 - a local fake
        for line in response:
            if line.strip():
                events.append(json.loads(line))
            if len(events) >= until:
                break
    return events


def client(api: FakeKubernetes) -> KubeClient:
    return KubeClient(api.api_client(), retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05))


@pytest.fixture
def fast_api() -> Any:
    api = FakeKubernetes(watch_chunk_wait=0.05, bookmark_interval=0.2, min_request_timeout=0.5).start()
    yield api
    api.stop()
    assert api.unexpected == []


def test_list_items_carry_no_kind_and_the_client_adds_it(fast_api: FakeKubernetes) -> None:
    fast_api.create("pods", pod("p1"))
    status, body, _ = get(fast_api, f"/api/v1/namespaces/{NS}/pods")
    assert status == 200 and body["kind"] == "PodList"
    assert "kind" not in body["items"][0] and "apiVersion" not in body["items"][0]
    items, _ = client(fast_api).list_all(PODS, NS, "")
    assert (items[0]["kind"], items[0]["apiVersion"]) == ("Pod", "v1")


def test_an_expired_continue_token_is_410_and_the_client_lists_again(fast_api: FakeKubernetes) -> None:
    for i in range(3):
        fast_api.create("pods", pod(f"p{i}"))
    status, first, _ = get(fast_api, f"/api/v1/namespaces/{NS}/pods?limit=1")
    token = first["metadata"]["continue"]
    fast_api._next_rv()
    fast_api.compact()
    status, body, _ = get(fast_api, f"/api/v1/namespaces/{NS}/pods?limit=1&continue={token}")
    assert (status, body["reason"], body["code"]) == (410, "Expired", 410)
    assert body["message"].startswith("The provided continue parameter is too old")
    assert get(fast_api, f"/api/v1/namespaces/{NS}/pods?limit=1&continue=bogus")[0] == 400

    for i in range(3, 501):  # two pages of the client's 500
        fast_api.create("pods", pod(f"p{i}"))
    fast_api.compact_after_pages(1)
    items, _ = client(fast_api).list_all(PODS, NS, "")
    assert len(items) == 501  # the second page was refused; the list started over and finished


def test_a_list_from_the_watch_cache_ignores_limit(fast_api: FakeKubernetes) -> None:
    for i in range(3):
        fast_api.create("pods", pod(f"p{i}"))
    status, body, _ = get(fast_api, f"/api/v1/namespaces/{NS}/pods?limit=1&resourceVersion=0")
    assert status == 200 and len(body["items"]) == 3 and "continue" not in body["metadata"]
    assert fast_api.stats.cache_lists == 1
    fast_api._next_rv()
    fast_api.compact()
    assert get(fast_api, f"/api/v1/namespaces/{NS}/pods?resourceVersion=1001")[0] == 410


def test_labels_that_stop_or_start_matching_are_deleted_or_added_for_the_watch(fast_api: FakeKubernetes) -> None:
    fast_api.create("pods", pod("p1"))
    rv = fast_api.get("pods", NS, "p1")["metadata"]["resourceVersion"]  # type: ignore[index]
    fast_api.mutate("pods", NS, "p1", lambda o: o["metadata"]["labels"].update({"app.kubernetes.io/managed-by": "other"}))
    fast_api.mutate("pods", NS, "p1", lambda o: o["metadata"]["labels"].update({"team": "x"}))  # not matching: unseen
    fast_api.mutate("pods", NS, "p1", lambda o: o["metadata"]["labels"].update({"app.kubernetes.io/managed-by": "anubis"}))
    fast_api.mutate("pods", NS, "p1", lambda o: o["status"].update(phase="Running"))
    events = watch_events(fast_api, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}"
                                    "&labelSelector=app.kubernetes.io/managed-by%3Danubis&timeoutSeconds=1", 3)
    assert [e["type"] for e in events] == ["DELETED", "ADDED", "MODIFIED"]
    deleted = events[0]["object"]["metadata"]  # the object as last matched, at the change's version
    assert deleted["labels"]["app.kubernetes.io/managed-by"] == "anubis" and int(deleted["resourceVersion"]) > int(rv)


def test_a_watch_from_version_zero_starts_with_the_current_objects(fast_api: FakeKubernetes) -> None:
    fast_api.create("pods", pod("p1"))
    fast_api.create("pods", pod("p2"))
    events = watch_events(fast_api, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion=0&timeoutSeconds=1", 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "p1"), ("ADDED", "p2")]


def test_bookmarks_only_when_asked_and_every_watch_ends(fast_api: FakeKubernetes) -> None:
    fast_api.create("pods", pod("p1"))
    fast_api.create("jobs", {"metadata": {"name": "j", "namespace": NS}, "spec": {"template": {}}})  # another kind
    rv = str(fast_api._rv)
    started = time.monotonic()
    quiet = watch_events(fast_api, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion=1000", 100)
    assert [e["type"] for e in quiet] == ["ADDED"]  # no bookmark unasked; ended by the server's own bound
    assert time.monotonic() - started < 5
    events = watch_events(fast_api, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}"
                                    "&allowWatchBookmarks=true&timeoutSeconds=1", 1)
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"] == {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}


def test_an_event_after_a_quiet_spell_is_sent_not_skipped_by_a_bookmark() -> None:
    # the watch waits (up to watch_chunk_wait) past the bookmark interval; the event that wakes it
    # must be sent, and a bookmark never carries a version beyond what the watch has sent
    api = FakeKubernetes(watch_chunk_wait=2.0, bookmark_interval=0.2).start()
    try:
        api.create("pods", pod("p0"))
        rv = str(api._rv)
        threading.Timer(0.6, lambda: api.create("pods", pod("p1"))).start()
        events = watch_events(api, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}"
                                   "&allowWatchBookmarks=true&timeoutSeconds=2", 100)
        seen = [(e["type"], int(e["object"]["metadata"]["resourceVersion"])) for e in events]
        assert [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"] == ["p1"]
        at = [t for t, _ in seen].index("ADDED")
        assert all(version < seen[at][1] for _, version in seen[:at])  # no bookmark ran ahead of p1
    finally:
        api.stop()


def test_the_watcher_moves_with_bookmarks(fast_api: FakeKubernetes) -> None:
    class Sink:
        def snapshot(self, resource: Any, namespace: Any, objects: Any) -> None:
            pass

        def event(self, resource: Any, kind: str, obj: Any) -> None:
            pass

    stop = threading.Event()
    watcher = Watcher(client(fast_api), PODS, NS, "", Sink(), stop=stop, resync_seconds=30)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert watcher.synced.wait(5)
        fast_api.create("jobs", {"metadata": {"name": "j", "namespace": NS}, "spec": {"template": {}}})
        target = fast_api._rv
        wait_for(lambda: watcher.seen >= target, timeout=5)  # no pod event: a bookmark carried it
    finally:
        stop.set()
        fast_api.drop_watches()
        thread.join(5)


def test_a_jobs_template_is_immutable(fast_api: FakeKubernetes) -> None:
    job = rendered("single-node-gpu-data-script", "Job")
    fast_api.create("jobs", job)
    kube = client(fast_api)
    name = job["metadata"]["name"]
    kube.annotate(JOBS, job["metadata"]["namespace"], name, {"a": "b"})  # metadata may change
    changed = {"spec": {"template": {"spec": {"containers": [{"name": "benchmark", "image": "other:1"}]}}}}
    with pytest.raises(ApiStatusError) as raised:
        kube.patch(JOBS, job["metadata"]["namespace"], name, changed)
    assert raised.value.status == 422
    assert f'Job.batch "{name}" is invalid: spec.template: Invalid value' in str(raised.value)
    assert "field is immutable" in str(raised.value)


needs_crd = pytest.mark.skipif(crd_schema("mpijobs") is None, reason="../shared/crds (the upstream CRDs) is not here")


@needs_crd
def test_unknown_fields_of_an_mpijob_are_pruned_with_a_warning(fast_api: FakeKubernetes) -> None:
    mpijob = rendered("horovod", "MPIJob")
    mpijob["spec"]["runPolicy"]["retries"] = 3
    mpijob["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["gpus"] = 4
    namespace = mpijob["metadata"]["namespace"]
    request = urllib.request.Request(f"{fast_api.url}/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs",
                                     data=json.dumps(mpijob).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local fake
        warning = response.headers["Warning"]
        stored = json.loads(response.read())
    assert "retries" not in stored["spec"]["runPolicy"]
    assert "gpus" not in stored["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert 'unknown field \\"spec.runPolicy.retries\\"' in warning
    assert stored["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"]  # known fields stay


@needs_crd
def test_the_rendered_mpijob_loses_nothing_to_pruning(fast_api: FakeKubernetes) -> None:
    mpijob = rendered("horovod", "MPIJob")
    stored = fast_api.create("mpijobs", mpijob)
    assert fast_api.pruned == []
    assert stored["spec"] == mpijob["spec"]


def test_periodic_relists_are_served_from_the_watch_cache(fast_api: FakeKubernetes, tmp_path: Any) -> None:
    settings = ControllerSettings(namespaces=(NS,), resync_seconds=1, workers=1, tick_seconds=0.2)
    ctl = Controller(client(fast_api), SqliteResultStore(tmp_path / "r.sqlite3"), settings=settings)
    ctl.start()
    try:
        assert ctl.wait_synced(10)
        first = fast_api.stats.lists
        assert fast_api.stats.cache_lists == 0  # the first lists are consistent reads
        wait_for(lambda: fast_api.stats.cache_lists >= 3, timeout=10)
        assert fast_api.stats.lists - first >= fast_api.stats.cache_lists
    finally:
        ctl.stop(timeout=0)
        fast_api.drop_watches()


def test_clone_copies_json_data_as_deepcopy_does() -> None:
    from copy import deepcopy

    from fakes.kubernetes_api import clone

    obj = rendered("horovod", "MPIJob") | {"odd": ({"in": [1]}, 2.5, None, True)}
    copied = clone(obj)
    assert copied == deepcopy(obj)
    copied["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = 99
    copied["odd"][0]["in"].append(2)
    assert obj["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] != 99 and obj["odd"][0]["in"] == [1]


def test_what_a_watch_sent_is_not_changed_by_later_writes(fast_api: FakeKubernetes) -> None:
    fast_api.create("pods", pod("p"))
    fast_api.apply("pods", NS, "p", lambda o: o["status"].update(phase="Running"))
    answered = fast_api.mutate("pods", NS, "p", lambda o: o["status"].update(phase="Succeeded"))
    answered["status"]["phase"] = "changed by the caller"  # its own copy
    events = watch_events(fast_api, f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion=1", until=3)
    assert [(e["type"], e["object"]["status"]["phase"]) for e in events] == [
        ("ADDED", "Pending"), ("MODIFIED", "Running"), ("MODIFIED", "Succeeded")]


def test_the_fake_listens_with_the_api_servers_backlog() -> None:
    """Connections made at once (a controller's workers) are all taken by the kernel, as Go's
    listener (backlog ``somaxconn``) takes them, even before the server accepts any: the fake's
    server, built but not serving, completes every handshake of 64 connects."""
    import select
    import socket
    from http.server import BaseHTTPRequestHandler

    from fakes.kubernetes_api import _Server

    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)  # listening, never accepting
    clients: list[socket.socket] = []
    try:
        for _ in range(64):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(server.server_address[:2])
            clients.append(s)
        deadline = time.monotonic() + 5.0
        pending = list(clients)
        while pending and time.monotonic() < deadline:  # a handshake the kernel refused stays pending
            _, writable, _ = select.select([], pending, [], 0.05)
            pending = [s for s in pending if s not in writable]
            if len(clients) - len(pending) == 64:
                break
        assert not pending, f"{len(pending)} of 64 connections were not taken (listen backlog too small)"
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for s in clients)
    finally:
        for s in clients:
            s.close()
        server.server_close()
