"""``one_cpu``: every thread of the controller on one CPU (the threads share one GIL; spread over
cores, each hand-over of it is a wake-up across cores)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.kubernetes.affinity import current_cpu, pin_to_one_cpu
from controller.kubernetes.settings import ControllerSettings, load_settings
from schemas.errors import BackendError

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs to choose from")


def _tasks() -> list[int]:
    return [int(t.name) for t in Path("/proc/self/task").iterdir()]


@pytest.fixture
def restored() -> Iterator[set[int]]:
    """The process's CPUs, given back to every thread afterwards (the rest of the suite runs on all)."""
    allowed = os.sched_getaffinity(0)
    yield allowed
    for tid in _tasks():
        try:
            os.sched_setaffinity(tid, allowed)
        except ProcessLookupError:
            pass


def test_every_thread_before_and_after_is_on_one_allowed_cpu(restored: set[int]) -> None:
    stop = threading.Event()
    before = threading.Thread(target=stop.wait, daemon=True)
    before.start()
    try:
        cpu = pin_to_one_cpu()
        assert cpu in restored
        seen: list[set[int]] = []
        after = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
        after.start()
        after.join()
        assert seen == [{cpu}]
        assert before.native_id is not None and os.sched_getaffinity(before.native_id) == {cpu}
        assert all(os.sched_getaffinity(tid) == {cpu} for tid in _tasks())
    finally:
        stop.set()


def test_the_current_cpu_is_one_the_thread_may_run_on() -> None:
    assert current_cpu() in os.sched_getaffinity(0)


def test_the_controller_pins_its_threads_when_the_setting_says_so(restored: set[int], tmp_path: Path) -> None:
    from fakes.kubernetes_api import FakeKubernetes

    from controller.kubernetes.client import KubeClient
    from controller.kubernetes.reconciler import Controller
    from controller.sqlite_store import SqliteResultStore

    fake = FakeKubernetes().start()
    try:
        for one_cpu in (False, True):
            store = SqliteResultStore(tmp_path / f"results-{one_cpu}.sqlite3")
            ctl = Controller(KubeClient(fake.api_client()), store,
                             settings=ControllerSettings(namespaces=("ns",), workers=2, one_cpu=one_cpu))
            ctl.start()
            try:
                workers = [t for t in threading.enumerate() if t.name.startswith("reconcile-")]
                assert workers and all(t.native_id is not None for t in workers)
                cpus = {frozenset(os.sched_getaffinity(t.native_id or 0)) for t in workers}
                assert cpus == {frozenset(restored)} if not one_cpu else (len(cpus) == 1 and len(min(cpus)) == 1)
            finally:
                ctl.stop(timeout=2)
                store.close()
    finally:
        fake.stop()


def test_the_setting_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "controller.toml"
    path.write_text("[controller]\none_cpu = true\n", encoding="utf-8")
    assert load_settings(path).one_cpu is True
    assert ControllerSettings().one_cpu is False
    path.write_text("one_cpu = 'yes'\n", encoding="utf-8")
    with pytest.raises(BackendError, match="one_cpu: 'yes' is not of type 'boolean'"):
        load_settings(path)
