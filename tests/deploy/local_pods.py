"""Turn rendered manifests into real local processes: a one-machine stand-in for a cluster.

Each pod of each Deployment/StatefulSet becomes one process running its container's command
and arguments with its environment (values, ConfigMap/Secret references, envFrom, the
downward API's metadata.name/namespace), with these mappings and nothing else changed:

- cluster DNS names (`svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`, a StatefulSet pod's
  `pod.svc...`) become 127.0.0.1, and every container port becomes a free local port, the same
  one wherever the manifests use it (args, variables, Service ports, probes);
- the listen address 0.0.0.0 becomes 127.0.0.1 (loopback only on a shared machine);
- each volumeMount's mountPath becomes a temp folder of that pod and volume; a Secret volume's
  folder holds one file per key of the rendered Secret (data base64-decoded, stringData as
  is; `items` honoured) with the volume's defaultMode, as the kubelet writes them;
- the image's `segmentdb` entry point is this environment's `segmentdb` script.

Anything the mapping does not understand (an env source, a probe type) raises, so a manifest
feature the boot test cannot reproduce is noticed rather than silently dropped.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy_manifests import Rendered, container

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def segmentdb_script() -> str:
    """The `segmentdb` console script of the interpreter running the tests (the image's
    ENTRYPOINT is the same script, installed by `pip install .`)."""
    script = Path(sys.executable).parent / "segmentdb"
    if not script.exists():
        raise RuntimeError(f"{script} missing: install the package (make install-dev)")
    return str(script)


@dataclass
class LocalPod:
    name: str                      # e.g. vector-worker-1
    workload: dict
    spec: dict                     # the pod template's spec
    ports: dict[int, int]          # containerPort -> local port
    volumes: dict[str, Path]       # mountPath -> local folder
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def labels(self) -> dict:
        return self.workload["spec"]["template"]["metadata"].get("labels", {})

    def named_port(self, name_or_number) -> int:
        """The container port a Service's targetPort names (or numbers)."""
        if isinstance(name_or_number, int):
            return name_or_number
        for port in container(self.workload).get("ports", []):
            if port.get("name") == name_or_number:
                return port["containerPort"]
        raise KeyError(f"{self.name}: no container port named {name_or_number!r}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


class LocalCluster:
    """The pods of a rendered overlay as processes under `root`."""

    def __init__(self, rendered: Rendered, root: Path):
        self.rendered = rendered
        self.root = root
        self.namespace = self._namespace()
        self.pods: list[LocalPod] = []
        for workload in rendered.workloads():
            self.pods.extend(self._pods_of(workload))
        self.hosts = self._dns_names()
        for pod in self.pods:
            self._resolve(pod)

    # -- building ---------------------------------------------------------------------

    def _namespace(self) -> str:
        namespaces = {o["metadata"].get("namespace") for o in self.rendered.workloads()}
        assert len(namespaces) == 1, f"workloads in several namespaces: {namespaces}"
        return namespaces.pop() or "default"

    def _pods_of(self, workload: dict) -> list[LocalPod]:
        name = workload["metadata"]["name"]
        replicas = workload["spec"].get("replicas", 1)
        pods = []
        # StatefulSet pods are <name>-<ordinal>; a Deployment's get the same form (any unique
        # name would do: nothing addresses them by name).
        for pod_name in (f"{name}-{i}" for i in range(replicas)):
            spec = workload["spec"]["template"]["spec"]
            ports = {p["containerPort"]: free_port() for p in container(workload).get("ports", [])}
            volumes = {}
            sources = {v["name"]: v for v in spec.get("volumes", [])}
            for mount in container(workload).get("volumeMounts", []):
                if "subPath" in mount or "subPathExpr" in mount:
                    raise AssertionError(f"{pod_name}: subPath mounts are not reproduced locally")
                folder = self.root / pod_name / mount["name"]
                folder.mkdir(parents=True, exist_ok=True)
                source = sources.get(mount["name"], {})  # none: a volumeClaimTemplate
                if "secret" in source:
                    self._write_secret(pod_name, source["secret"], folder)
                elif set(source) - {"name", "emptyDir"}:
                    raise AssertionError(f"{pod_name}: volume {source} not reproduced locally")
                volumes[mount["mountPath"]] = folder
            pods.append(LocalPod(pod_name, workload, spec, ports, volumes))
        return pods

    def _write_secret(self, pod_name: str, volume: dict, folder: Path) -> None:
        """The files the kubelet projects for a Secret volume: key -> file (or `items`)."""
        data = self._data("Secret", volume["secretName"])
        items = volume.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                raise AssertionError(f"{pod_name}: Secret {volume['secretName']} has no key "
                                     f"{item['key']!r}")
            path = folder / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[item["key"]])
            path.chmod(item.get("mode", volume.get("defaultMode", 0o644)))

    def _dns_names(self) -> dict[str, dict[int, int]]:
        """host name -> {service port: local port} for every Service (and StatefulSet pod)."""
        suffixes = ["", f".{self.namespace}", f".{self.namespace}.svc",
                    f".{self.namespace}.svc.cluster.local"]
        hosts: dict[str, dict[int, int]] = {}
        for service in self.rendered.of_kind("Service"):
            svc = service["metadata"]["name"]
            selector = service["spec"].get("selector", {})
            members = [p for p in self.pods
                       if all(p.labels.get(k) == v for k, v in selector.items())]
            assert members, f"Service {svc} selects no pod"
            headless = service["spec"].get("clusterIP") == "None"

            def port_map(pod: LocalPod) -> dict[int, int]:
                mapped = {}
                for port in service["spec"]["ports"]:
                    target = pod.named_port(port.get("targetPort", port["port"]))
                    mapped[port["port"]] = pod.ports[target]
                return mapped

            for suffix in suffixes:
                # A ClusterIP Service's virtual address reaches one of its pods: the first.
                hosts[svc + suffix] = port_map(members[0])
                if headless:
                    for pod in members:
                        if pod.workload["kind"] == "StatefulSet" and \
                                pod.workload["spec"].get("serviceName") == svc:
                            hosts[f"{pod.name}.{svc}{suffix}"] = port_map(pod)
        return hosts

    def _map_value(self, pod: LocalPod, value: str) -> str:
        """A manifest string with cluster addresses, ports and mount paths made local."""
        def host_port(match: re.Match) -> str:
            host, port = match.group(1), int(match.group(2))
            if host in self.hosts:
                if port not in self.hosts[host]:
                    raise AssertionError(f"{pod.name}: {host}:{port} is not a port of that "
                                         f"Service (ports {sorted(self.hosts[host])})")
                return f"{LOOPBACK}:{self.hosts[host][port]}"
            return match.group(0)

        value = re.sub(r"([A-Za-z0-9][A-Za-z0-9.-]*):(\d+)", host_port, value)
        if value == "0.0.0.0":
            return LOOPBACK
        if value.isdigit() and int(value) in pod.ports:
            return str(pod.ports[int(value)])
        for mount_path, folder in sorted(pod.volumes.items(), key=lambda kv: -len(kv[0])):
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                return str(folder) + value[len(mount_path):]
        return value

    def _env(self, pod: LocalPod) -> dict[str, str]:
        spec = container(pod.workload)
        env: dict[str, str] = {}
        for source in spec.get("envFrom", []):
            if "configMapRef" in source:
                data = self._data("ConfigMap", source["configMapRef"]["name"])
            elif "secretRef" in source:
                data = self._data("Secret", source["secretRef"]["name"])
            else:
                raise AssertionError(f"{pod.name}: envFrom {source} not reproduced locally")
            env.update({source.get("prefix", "") + k: v for k, v in data.items()})
        for item in spec.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            ref = item.get("valueFrom", {})
            if "fieldRef" in ref:
                path = ref["fieldRef"]["fieldPath"]
                known = {"metadata.name": pod.name, "metadata.namespace": self.namespace}
                if path not in known:
                    raise AssertionError(f"{pod.name}: fieldRef {path} not reproduced locally")
                env[item["name"]] = known[path]
            elif "configMapKeyRef" in ref:
                env[item["name"]] = self._data("ConfigMap", ref["configMapKeyRef"]["name"])[
                    ref["configMapKeyRef"]["key"]]
            elif "secretKeyRef" in ref:
                env[item["name"]] = self._data("Secret", ref["secretKeyRef"]["name"])[
                    ref["secretKeyRef"]["key"]]
            else:
                raise AssertionError(f"{pod.name}: env {item} not reproduced locally")
        return {k: self._map_value(pod, v) for k, v in env.items()}

    def _data(self, kind: str, name: str) -> dict[str, str]:
        obj = self.rendered.get(kind, name)
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
            data.update(obj.get("stringData", {}))
            return data
        return dict(obj.get("data", {}))

    def _resolve(self, pod: LocalPod) -> None:
        spec = container(pod.workload)
        command = list(spec.get("command", []))
        assert command == ["segmentdb"], f"{pod.name}: command {command} (the image runs segmentdb)"
        pod.env = self._env(pod)
        # Kubernetes expands $(VAR) in args from the container's variables.
        args = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                       lambda m: pod.env.get(m.group(1), m.group(0)), a)
                for a in spec.get("args", [])]
        pod.argv = [segmentdb_script(), *(self._map_value(pod, a) for a in args)]

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        """Start every pod at once, as a cluster does (no ordering between workloads)."""
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTDB_")}
        for pod in self.pods:
            pod.log_path = self.root / f"{pod.name}.log"
            with open(pod.log_path, "wb") as log:
                pod.process = subprocess.Popen(pod.argv, env={**base_env, **pod.env},
                                               stdout=log, stderr=subprocess.STDOUT,
                                               cwd=self.root)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Poll each pod's readinessProbe (gRPC health) until SERVING, as the kubelet does."""
        deadline = time.monotonic() + timeout
        for pod in self.pods:
            probe = container(pod.workload)["readinessProbe"]
            assert set(probe) >= {"grpc"}, f"{pod.name}: readiness probe is not grpc"
            address = f"{LOOPBACK}:{pod.ports[probe['grpc']['port']]}"
            service = probe["grpc"].get("service", "")
            while not _serving(address, service):
                if pod.process.poll() is not None:
                    raise AssertionError(f"{pod.name} exited {pod.process.returncode}:\n"
                                         f"{pod.log()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{pod.name} not ready in {timeout}s:\n{pod.log()}")
                time.sleep(0.1)

    def secret(self, name: str) -> dict[str, str]:
        """A rendered Secret's decoded data (what its volume's files and key refs hold)."""
        return self._data("Secret", name)

    def address(self, host_port: str) -> str:
        """The local address a cluster address (e.g. gateway:50051) maps to."""
        host, port = host_port.rsplit(":", 1)
        return f"{LOOPBACK}:{self.hosts[host][int(port)]}"

    def stop(self) -> dict[str, int]:
        """SIGTERM every pod (what the kubelet sends), wait up to its grace period."""
        codes = {}
        for pod in self.pods:
            if pod.process and pod.process.poll() is None:
                pod.process.terminate()
        for pod in self.pods:
            if pod.process is None:
                continue
            grace = pod.spec.get("terminationGracePeriodSeconds", 30)
            try:
                codes[pod.name] = pod.process.wait(grace)
            except subprocess.TimeoutExpired:
                pod.process.kill()
                pod.process.wait()
                codes[pod.name] = -9
        return codes


def _serving(address: str, service: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0)
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING
