"""Every pod Anubis renders meets the Kubernetes Pod Security "baseline" level unless a run asks for
``privileged`` (which the environment's policy must allow; planning checks that).

``baseline_violations`` follows https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline profile, Kubernetes 1.29): host namespaces, privileged containers, capabilities, host paths,
host ports, AppArmor, SELinux, /proc mount, seccomp and sysctls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from manifest_cases import RENDER_CASES, horovod_case, inference_case

from renderer.manifests import render_run

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def baseline_violations(template: dict[str, Any]) -> list[str]:
    """What in a pod template breaks the baseline level, as ``<container>: <rule>`` lines."""
    spec = template["spec"]
    found: list[str] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"pod: {field}")
    found += _context_violations("pod", spec.get("securityContext") or {})
    for sysctl in (spec.get("securityContext") or {}).get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"pod: unsafe sysctl {sysctl['name']}")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            found.append(f"pod: hostPath volume {volume['name']}")
    for key, value in (template.get("metadata", {}).get("annotations") or {}).items():
        apparmor = key.startswith("container.apparmor.security.beta.kubernetes.io/")
        if apparmor and value != "runtime/default" and not value.startswith("localhost/"):
            found.append(f"pod: AppArmor {value}")
    for c in spec.get("initContainers", []) + spec["containers"] + spec.get("ephemeralContainers", []):
        context = c.get("securityContext") or {}
        name = c["name"]
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        added = set((context.get("capabilities") or {}).get("add", [])) - BASELINE_CAPABILITIES
        if added:
            found.append(f"{name}: capabilities {sorted(added)}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {context['procMount']}")
        found += _context_violations(name, context)
        for port in c.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{name}: hostPort {port['hostPort']}")
    return found


def _context_violations(who: str, context: dict[str, Any]) -> list[str]:
    found = []
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        found.append(f"{who}: hostProcess")
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append(f"{who}: seccomp Unconfined")
    if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        found.append(f"{who}: AppArmor Unconfined")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "container_t") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.append(f"{who}: seLinuxOptions {selinux}")
    return found


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if obj["kind"] == "Job":
            yield obj["spec"]["template"]
        elif obj["kind"] == "CronJob":
            yield obj["spec"]["jobTemplate"]["spec"]["template"]
        elif obj["kind"] == "MPIJob":
            yield from (r["template"] for r in obj["spec"]["mpiReplicaSpecs"].values())


def test_the_checker_finds_what_baseline_forbids() -> None:
    bad = {
        "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
        "spec": {
            "hostNetwork": True,
            "hostPID": True,
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [
                {
                    "name": "c",
                    "ports": [{"containerPort": 80, "hostPort": 80}],
                    "securityContext": {
                        "privileged": True,
                        "capabilities": {"add": ["SYS_ADMIN", "CHOWN"]},
                        "procMount": "Unmasked",
                        "seccompProfile": {"type": "Unconfined"},
                    },
                }
            ],
        },
    }
    assert baseline_violations(bad) == [
        "pod: hostNetwork",
        "pod: hostPID",
        "pod: unsafe sysctl kernel.msgmax",
        "pod: hostPath volume root",
        "pod: AppArmor unconfined",
        "c: privileged",
        "c: capabilities ['SYS_ADMIN']",
        "c: procMount Unmasked",
        "c: seccomp Unconfined",
        "c: hostPort 80",
    ]


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_default_renders_meet_baseline(name: str) -> None:
    spec, env, scripts = RENDER_CASES[name]()
    if spec.server is not None:
        spec = replace(spec, server=replace(spec.server, privileged=False))
    templates = list(pod_templates(render_run(replace(spec, privileged=False), env, scripts).objects))
    assert templates
    for template in templates:
        assert baseline_violations(template) == []


def test_privileged_appears_only_where_asked() -> None:
    spec, env, scripts = horovod_case()  # asks for privileged (RDMA); the GPU environment allows it
    assert spec.privileged
    for template in pod_templates(render_run(spec, env, scripts).objects):
        assert baseline_violations(template) == ["benchmark: privileged"]  # never the fetcher

    spec, env, scripts = inference_case()
    assert spec.server is not None
    server_only = replace(spec, server=replace(spec.server, privileged=True))
    (template,) = pod_templates(render_run(server_only, env, scripts).objects)
    assert baseline_violations(template) == ["inference-server: privileged"]
