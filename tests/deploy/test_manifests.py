"""deploy/: both overlays render, every object is valid against the Kubernetes schemas
(offline, kubernetes-validate), and the manifests agree with the code and with themselves:
flags and variables the processes really read, the gateway's vector worker list against the
StatefulSet, memory limits against the memory budget, gRPC probes on the served ports, the
network policy, the Dockerfile against the packages."""

from __future__ import annotations

import functools
import re
import subprocess

import kubernetes_validate
import pytest

from deploy_manifests import (
    DEPLOY, KUBERNETES_VERSION, OVERLAYS, REPO, Rendered, container, env_value,
    quantity_bytes, render,
)
from local_pods import segmentdb_script
from segmentdb.units import parse_size

MIB = 2**20


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> Rendered:
    return Rendered(render(request.param))


def test_every_object_is_valid_against_the_kubernetes_schemas(rendered):
    kinds = sorted({o["kind"] for o in rendered.objects})
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy", "Namespace"} <= set(kinds), kinds
    for obj in rendered.objects:
        # strict: unknown fields (a typo such as `readinesProbe`) are errors too.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_broken_object():
    """The validator really checks (and offline): a typo'd field and a wrong type fail."""
    deployment = Rendered(render("dev")).get("Deployment", "gateway")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    typo = {**deployment, "spec": {**deployment["spec"], "replicaz": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_gateway_lists_every_vector_worker_pod_by_its_stable_name(rendered):
    """Rendezvous hashing runs over these strings: one per StatefulSet replica, in ordinal
    order, each `<pod>.<headless service>:<service port>`."""
    workers = rendered.get("StatefulSet", "vector-worker")
    service = rendered.get("Service", workers["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None", "the vector workers' Service must be headless"
    port = service["spec"]["ports"][0]["port"]
    listed = rendered.config_map("segmentdb-config")["data"]["SEGMENTDB_VECTOR_WORKERS"]
    expected = [f"vector-worker-{i}.{service['metadata']['name']}:{port}"
                for i in range(workers["spec"]["replicas"])]
    assert listed.split(",") == expected


def test_vector_worker_memory_limit_is_budget_plus_overhead(rendered):
    """limit = SEGMENTDB_MEMORY_BUDGET + the pod's segmentdb.dev/memory-overhead annotation,
    overhead >= max(256Mi, budget / 4); request = limit (docs/deploy.md)."""
    workers = rendered.get("StatefulSet", "vector-worker")
    spec = container(workers)
    budget = parse_size(env_value(spec, "SEGMENTDB_MEMORY_BUDGET"))
    overhead = quantity_bytes(
        workers["spec"]["template"]["metadata"]["annotations"]["segmentdb.dev/memory-overhead"])
    limit = quantity_bytes(spec["resources"]["limits"]["memory"])
    assert budget > 0, "an explicit budget: `auto` would be half the limit, not the rule"
    assert limit == budget + overhead, (budget / MIB, overhead / MIB, limit / MIB)
    assert overhead >= max(256 * MIB, budget // 4), overhead / MIB
    assert quantity_bytes(spec["resources"]["requests"]["memory"]) == limit


@functools.lru_cache(maxsize=None)
def _help(subcommand: str) -> str:
    result = subprocess.run([segmentdb_script(), subcommand, "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _settings_read_by_the_processes() -> set[str]:
    """SEGMENTDB_* names in the processes' config modules: each package's config.py is the
    only reader of the environment (house rule), so its string literals are what is read."""
    names = set()
    for package in ("gateway", "metadata_worker", "vector_worker"):
        for config in (REPO / package).glob("config*.py"):
            names |= set(re.findall(r"[\"'](SEGMENTDB_[A-Z0-9_]+)[\"']", config.read_text()))
    assert "SEGMENTDB_MEMORY_BUDGET" in names, names  # the scan itself works
    return names


def test_flags_and_variables_exist_in_the_code(rendered):
    """Every flag in the containers' args is in that subcommand's --help, and every SEGMENTDB_*
    variable (ConfigMap or container env) is one a process reads."""
    known = _settings_read_by_the_processes()
    config = rendered.config_map("segmentdb-config")["data"]
    for name in config:
        assert name in known, f"ConfigMap key {name} is read by no process"
    for workload in rendered.workloads():
        spec = container(workload)
        subcommand, *args = spec["args"]
        text = _help(subcommand)
        for flag in (a for a in args if a.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(flag)}\b", text), \
                f"{workload['metadata']['name']}: {flag} is not a flag of segmentdb {subcommand}"
        for item in spec.get("env", []):
            if item["name"].startswith("SEGMENTDB_"):
                assert item["name"] in known, f"{item['name']} is read by no process"


def test_pods_have_grpc_probes_on_their_port_and_no_service_links(rendered):
    for workload in rendered.workloads():
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        spec = container(workload)
        ports = {p["containerPort"] for p in spec["ports"]}
        listen = int(spec["args"][spec["args"].index("--port") + 1])
        assert listen in ports, f"{name}: --port {listen} is not a containerPort"
        for kind in ("readinessProbe", "livenessProbe"):
            assert spec[kind]["grpc"]["port"] == listen, f"{name}: {kind}"
        # <SERVICE>_PORT=tcp://... variables would collide with SEGMENTDB_* settings.
        assert pod["enableServiceLinks"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert spec["resources"]["limits"]["memory"], name


def test_only_the_gateway_reaches_the_workers(rendered):
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p
                for p in rendered.of_kind("NetworkPolicy")}
    assert set(policies) == {"vector-worker", "metadata-worker"}

    def allowed(policy) -> set[str]:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        return {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                for rule in policy["spec"]["ingress"] for peer in rule["from"]}

    assert allowed(policies["vector-worker"]) == {"gateway"}
    # Vector workers read the log and rebuild scans from the metadata worker.
    assert allowed(policies["metadata-worker"]) == {"gateway", "vector-worker"}


def test_disruption_budgets_cover_every_workload(rendered):
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: b
               for b in rendered.of_kind("PodDisruptionBudget")}
    assert set(budgets) == {"gateway", "metadata-worker", "vector-worker"}
    assert rendered.get("StatefulSet", "metadata-worker")["spec"]["replicas"] == 1


def test_production_keeps_tokens_out_of_git_and_closes_the_writers_budget():
    production = Rendered(render("production"))
    assert not production.of_kind("Secret"), "production must not ship a tokens Secret"
    budget = production.get("PodDisruptionBudget", "metadata-worker")
    assert budget["spec"]["maxUnavailable"] == 0
    dev = Rendered(render("dev"))
    assert dev.get("Secret", "segmentdb-tokens")


def test_dockerfile_installs_every_package_like_the_readme():
    """The image is `pip install .` of exactly the packages pyproject.toml ships."""
    text = (DEPLOY / "Dockerfile").read_text()
    find = re.search(r"\[tool\.setuptools\.packages\.find\]\ninclude = \[(.*?)\]",
                     (REPO / "pyproject.toml").read_text(), re.S)
    packages = re.findall(r'"([^"]+)"', find.group(1))
    copied = set(re.findall(r"^COPY (\S+) \./\1$", text, re.M))
    assert {p.rstrip("*") for p in packages} == copied
    assert "FROM python:3.11-slim" in text and "build-essential" in text
    assert re.search(r"pip install \.$", text, re.M)
    assert 'ENTRYPOINT ["segmentdb"]' in text
    assert "USER 10001:10001" in text
