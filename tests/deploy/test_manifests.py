"""deploy/: both overlays render, every object is valid against the Kubernetes schemas
(offline, kubernetes-validate), and the manifests agree with the code and with themselves:
flags and variables the processes really read, the gateway's vector worker list against the
StatefulSet, memory limits against the memory budget, gRPC probes on the served ports, the
network policy, the Dockerfile against the packages."""

from __future__ import annotations

import functools
import json
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


# The scraper the NetworkPolicy lets reach the metrics ports (docs/deploy.md, "Metrics").
SCRAPER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
           "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}


def test_only_the_gateway_reaches_the_workers_and_only_prometheus_their_metrics(rendered):
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p
                for p in rendered.of_kind("NetworkPolicy")}
    assert set(policies) == {"vector-worker", "metadata-worker"}

    def allowed(policy, port: str) -> list:
        """The peers of the rules naming `port`; every rule names exactly one port."""
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        peers = []
        for rule in policy["spec"]["ingress"]:
            assert len(rule["ports"]) == 1, rule
            if rule["ports"][0] == {"protocol": "TCP", "port": port}:
                peers.extend(rule["from"])
        return peers

    def components(peers) -> set[str]:
        assert all(set(peer) == {"podSelector"} for peer in peers), peers  # this namespace
        return {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                for peer in peers}

    assert components(allowed(policies["vector-worker"], "grpc")) == {"gateway"}
    # Vector workers read the log and rebuild scans from the metadata worker.
    assert components(allowed(policies["metadata-worker"], "grpc")) == {"gateway",
                                                                        "vector-worker"}
    for policy in policies.values():
        # One peer with both selectors: Prometheus pods in the monitoring namespace (two
        # peers would let any pod of that namespace, or any prometheus-named pod, in).
        assert allowed(policy, "metrics") == [SCRAPER]
        assert {r["ports"][0]["port"] for r in policy["spec"]["ingress"]} == {"grpc", "metrics"}


def test_every_process_serves_metrics_where_prometheus_looks(rendered):
    """SEGMENTDB_METRICS_PORT (ConfigMap) = each container's `metrics` port = the pod's
    prometheus.io/port annotation; the endpoint listens beyond loopback."""
    config = rendered.config_map("segmentdb-config")["data"]
    port = int(config["SEGMENTDB_METRICS_PORT"])
    assert config["SEGMENTDB_METRICS_HOST"] == "0.0.0.0"
    for workload in rendered.workloads():
        name = workload["metadata"]["name"]
        spec = container(workload)
        assert "SEGMENTDB_METRICS_PORT" not in {e["name"] for e in spec.get("env", [])}, name
        metrics = [p for p in spec["ports"] if p.get("name") == "metrics"]
        assert [p["containerPort"] for p in metrics] == [port], name
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(port), name
        assert annotations["prometheus.io/path"] == "/metrics", name


# Secret -> (key, mount folder, the variable naming the file, the workloads mounting it).
SECRET_FILES = {
    "segmentdb-tokens": ("tokens", "/etc/segmentdb/tokens", "SEGMENTDB_AUTH_TOKENS_FILE",
                         {"gateway"}),
    "segmentdb-internal-token": ("token", "/etc/segmentdb/internal",
                                 "SEGMENTDB_INTERNAL_TOKEN_FILE",
                                 {"gateway", "metadata-worker", "vector-worker"}),
}


def test_secrets_are_mounted_read_only_as_the_files_the_processes_read(rendered):
    for secret, (key, folder, variable, mounted_by) in SECRET_FILES.items():
        users = set()
        for workload in rendered.workloads():
            pod = workload["spec"]["template"]["spec"]
            spec = container(workload)
            volumes = [v["name"] for v in pod.get("volumes", [])
                       if v.get("secret", {}).get("secretName") == secret]
            if not volumes:
                assert env_value(spec, variable) is None, workload["metadata"]["name"]
                continue
            users.add(workload["metadata"]["name"])
            (volume,) = volumes
            source = next(v for v in pod["volumes"] if v["name"] == volume)["secret"]
            # Group-readable for the pod's fsGroup (uid 10001 is not the files' owner).
            assert source["defaultMode"] == 0o440 and "items" not in source, source
            assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
            (mount,) = [m for m in spec["volumeMounts"] if m["name"] == volume]
            # Whole-volume mount (no subPath), so a rotated Secret reaches the running pod.
            assert mount == {"name": volume, "mountPath": folder, "readOnly": True}, mount
            assert env_value(spec, variable) == f"{folder}/{key}"
        assert users == mounted_by, (secret, users)


def test_dev_secrets_hold_values_the_processes_accept():
    """The dev overlay's Secrets parse as the processes parse them (a broken JSON would only
    show as a crash-looping gateway in a cluster)."""
    from gateway.auth_tokens import parse
    from segmentdb.internal_token_file import MIN_TOKEN_LENGTH

    dev = Rendered(render("dev"))
    assert {s["metadata"]["name"] for s in dev.of_kind("Secret")} == set(SECRET_FILES)
    tokens = dev.get("Secret", "segmentdb-tokens")["stringData"]["tokens"]
    table = parse(tokens, "dev segmentdb-tokens")
    assert len(table) == 1
    grant = table.authenticate(json.loads(tokens)["tokens"][0]["token"])
    assert grant is not None and grant.role.label == "admin" and grant.tenants is None
    assert "dev only" in grant.name
    internal = dev.get("Secret", "segmentdb-internal-token")["stringData"]["token"].strip()
    assert len(internal) >= MIN_TOKEN_LENGTH and not any(c.isspace() for c in internal)
    assert "dev-only" in internal


def test_disruption_budgets_cover_every_workload(rendered):
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: b
               for b in rendered.of_kind("PodDisruptionBudget")}
    assert set(budgets) == {"gateway", "metadata-worker", "vector-worker"}
    assert rendered.get("StatefulSet", "metadata-worker")["spec"]["replicas"] == 1


def test_production_keeps_tokens_out_of_git_and_closes_the_writers_budget():
    production = Rendered(render("production"))
    assert not production.of_kind("Secret"), "production must not ship a Secret"
    # ...but its pods still mount both (created out of band, docs/deploy.md).
    mounted = {v["secret"]["secretName"] for w in production.workloads()
               for v in w["spec"]["template"]["spec"].get("volumes", []) if "secret" in v}
    assert mounted == set(SECRET_FILES)
    budget = production.get("PodDisruptionBudget", "metadata-worker")
    assert budget["spec"]["maxUnavailable"] == 0


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
