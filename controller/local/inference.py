"""The inference server of a local ``inference`` run: its client's variables and its readiness.

The readiness probe behaves like the kubelet's, with one difference that a single machine needs: a
pod that never becomes ready just waits, but a local run has nobody to notice, so after
``failure_threshold`` failures in a row (once ``initial_delay_seconds`` have passed) the run fails
and says what the probe last saw. Without a probe the server is ready once its first port accepts a
TCP connection (checked with the same timings).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from schemas.runspec import Probe, ServerSpec
from schemas.vocabulary import inference_variables

HOST = "127.0.0.1"


def client_variables(server: ServerSpec) -> dict[str, str]:
    """``INFERENCE_SERVER_HOST``, ``INFERENCE_SERVER_PORT`` (the first port) and
    ``INFERENCE_SERVER_PORT_<n>`` for the others, ``n`` being the port's index (1 for the second):
    the same names the rendered pod gives its client (``schemas.vocabulary.inference_variables``)."""
    return inference_variables(HOST, server.ports)


def check_once(probe: Probe) -> str | None:
    """``None`` when the probe succeeds, else what went wrong (for the failure message)."""
    import http.client  # here: a run without an inference server never needs http.client or ssl
    import ssl

    connection: http.client.HTTPConnection
    if probe.scheme == "https":
        # As the kubelet does: HTTPS probes do not verify the certificate.
        context = ssl._create_unverified_context()  # noqa: S323
        connection = http.client.HTTPSConnection(HOST, probe.port, timeout=probe.timeout_seconds, context=context)
    else:
        connection = http.client.HTTPConnection(HOST, probe.port, timeout=probe.timeout_seconds)
    try:
        connection.request("GET", probe.path or "/", headers={"User-Agent": "anubis-probe"})
        response = connection.getresponse()
        response.read()
        if 200 <= response.status < 400:
            return None
        return f"GET {probe.path} answered {response.status}"
    except TimeoutError:
        return f"GET {probe.path} got no answer within {probe.timeout_seconds} s"
    except OSError as e:
        return f"GET {probe.path} failed: {e.strerror or e}"
    except http.client.HTTPException as e:
        return f"GET {probe.path} failed: {type(e).__name__}"
    finally:
        connection.close()


def check_port(port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return None
    except OSError as e:
        return f"port {port} does not accept connections ({e.strerror or e})"


@dataclass(frozen=True)
class ProbeOutcome:
    ready: bool
    detail: str  # why not ready, or "" when ready
    interrupted: bool = False  # ``stopped`` said stop (server exit, timeout, cancel)


def wait_ready(
    server: ServerSpec,
    *,
    stopped: Callable[[], bool],
    sleep: Callable[[float], None],
    clock: Callable[[], float] = time.monotonic,
) -> ProbeOutcome:
    """Probe until ready, failed, or ``stopped()``; ``sleep`` may return early (it is woken up)."""
    probe = server.readiness_probe
    check: Callable[[], str | None]
    if probe is None:
        if not server.ports:
            return ProbeOutcome(True, "")
        port = server.ports[0]
        delay, period, successes_needed, failures_allowed = 0.0, 0.2, 1, 300

        def check() -> str | None:
            return check_port(port, 1.0)

    else:
        real_probe = probe
        delay, period = float(probe.initial_delay_seconds), float(max(probe.period_seconds, 1))
        successes_needed, failures_allowed = max(1, probe.success_threshold), max(1, probe.failure_threshold)

        def check() -> str | None:
            return check_once(real_probe)

    start = clock()

    def pause(seconds: float) -> bool:
        """Sleep until ``seconds`` have passed or something happened; True to go on."""
        end = clock() + seconds
        while not stopped():
            left = end - clock()
            if left <= 0:
                return True
            sleep(left)
        return False

    if not pause(delay):
        return ProbeOutcome(False, "", interrupted=True)
    successes = failures = 0
    last = ""
    while True:
        result = check()
        if result is None:
            successes, failures = successes + 1, 0
            if successes >= successes_needed:
                return ProbeOutcome(True, "")
        else:
            successes, failures, last = 0, failures + 1, result
            if failures >= failures_allowed:
                waited = clock() - start
                return ProbeOutcome(
                    False,
                    f"the inference server did not become ready: the readiness probe failed {failures} times "
                    f"in a row after {waited:.0f} s (last: {last})",
                )
        if not pause(period):
            return ProbeOutcome(False, "", interrupted=True)
