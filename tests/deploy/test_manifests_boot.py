"""Boot the dev overlay's pods as real processes and use the service through the gateway.

The commands, arguments, variables, ports and probes come from `kubectl kustomize
deploy/overlays/dev`; only cluster DNS names, ports and volumes are mapped to this machine
(tests/deploy/local_pods.py). A flag renamed in the code, a variable the manifests set that
no process reads, a wrong Service port or a vector worker list that does not match the
StatefulSet fails here before it fails in a cluster. The Secrets' files (bearer tokens,
internal token) are the dev overlay's own Secret objects, written where the pods mount them:
the security the manifests switch on is the security the test meets.
"""

from __future__ import annotations

import json
import re
import urllib.request

import grpc
import numpy as np
import pytest

import segmentdb
from deploy_manifests import Rendered, render
from local_pods import LOOPBACK, LocalCluster
from segmentdb import errors
from segmentdb.internal.v1 import (metadata_service_pb2_grpc, vector_service_pb2,
                                   vector_service_pb2_grpc)
from segmentdb.internal_auth import HEADER
from segmentdb.v1 import tenancy_service_pb2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    local = LocalCluster(Rendered(render("dev")), tmp_path_factory.mktemp("dev-cluster"))
    local.start()
    try:
        local.wait_ready()
        yield local
    finally:
        codes = local.stop()
    logs = {pod.name: pod.log()[-2000:] for pod in local.pods}
    assert all(code == 0 for code in codes.values()), f"exit codes {codes} on SIGTERM:\n{logs}"


def _secret(cluster, name: str, key: str) -> str:
    """A value of one of the rendered dev Secrets (what the pods' files hold)."""
    return cluster.secret(name)[key]


def _dev_token(cluster) -> str:
    tokens = json.loads(_secret(cluster, "segmentdb-tokens", "tokens"))["tokens"]
    admins = [t["token"] for t in tokens if t["role"] == "admin" and t["tenants"] == "*"]
    assert len(admins) == 1, "the dev Secret holds one admin token for every tenant"
    return admins[0]


def _gateway_target(cluster) -> str:
    """The address clients use: the gateway Service's port."""
    gateway = cluster.rendered.get("Service", "gateway")
    return cluster.address(f"gateway:{gateway['spec']['ports'][0]['port']}")


def _pod(cluster, name: str):
    return next(p for p in cluster.pods if p.name == name)


def test_the_dev_manifests_boot_a_working_service(cluster):
    rendered = cluster.rendered
    names = sorted(pod.name for pod in cluster.pods)
    assert names == ["gateway-0", "metadata-worker-0", "vector-worker-0", "vector-worker-1"]

    # The gateway requires the dev Secret's bearer token (SEGMENTDB_AUTH_TOKENS_FILE).
    client = segmentdb.Client(_gateway_target(cluster), token=_dev_token(cluster), timeout=60)
    try:
        rng = np.random.default_rng(6)
        vectors = rng.random((40, 8), dtype=np.float32)
        books = client.create_collection("k8s-boot")
        books.add(ids=[f"id{i}" for i in range(40)], embeddings=vectors,
                  metadatas=[{"shelf": i % 4} for i in range(40)],
                  documents=[f"book {i}" for i in range(40)])
        assert books.count() == 40

        hits = books.query(query_embeddings=vectors[:1], n_results=5, where={"shelf": 0})
        shelf0 = [i for i in range(40) if i % 4 == 0]
        exact = sorted(shelf0, key=lambda i: float(((vectors[i] - vectors[0]) ** 2).sum()))[:5]
        assert hits["ids"][0] == [f"id{i}" for i in exact]
        assert all(m["shelf"] == 0 for m in hits["metadatas"][0])

        # The gateway routes over exactly the vector workers the StatefulSet runs, by the
        # stable names the manifests give it (mapped to this machine's ports).
        stats = client.stats()
        listed = rendered.config_map("segmentdb-config")["data"]["SEGMENTDB_VECTOR_WORKERS"]
        assert sorted(w["address"] for w in stats["workers"]) == sorted(
            cluster.address(a) for a in listed.split(","))
        assert all(w["reachable"] for w in stats["workers"]), stats["workers"]
        # Each vector worker runs with the budget its manifest sets (256MiB in dev).
        assert {w["memory_budget_bytes"] for w in stats["workers"]} == {256 * 2**20}
        client.delete_collection("k8s-boot")
    finally:
        client.close()

    # Each process used the volume mounted at its --path: SQLite on the metadata worker's,
    # the HNSW cache (and the working set named after the pod, from the downward API) on
    # the vector workers'.
    metadata = next(p for p in cluster.pods if p.name == "metadata-worker-0")
    assert (metadata.volumes["/data"] / "chroma.sqlite3").exists()
    for pod in cluster.pods:
        if pod.name.startswith("vector-worker-"):
            assert pod.env["SEGMENTDB_WORKER_NAME"] == pod.name


def test_a_call_without_the_bearer_token_is_refused(cluster):
    with segmentdb.Client(_gateway_target(cluster), timeout=60) as anonymous:
        with pytest.raises(errors.AuthenticationError) as info:
            anonymous.list_collections()
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    with segmentdb.Client(_gateway_target(cluster), token="not-the-dev-token-0123456789",
                          timeout=60) as stranger:
        with pytest.raises(errors.AuthenticationError):
            stranger.list_collections()


def test_the_workers_refuse_a_call_without_the_internal_token(cluster):
    """Reaching a worker's port directly (what the NetworkPolicy forbids, where it is not
    enforced) gets nothing without the internal token; with the Secret's token it works."""
    token = _secret(cluster, "segmentdb-internal-token", "token").strip()
    metadata = _pod(cluster, "metadata-worker-0")
    with grpc.insecure_channel(f"{LOOPBACK}:{metadata.ports[6001]}") as channel:
        stub = metadata_service_pb2_grpc.MetadataServiceStub(channel)
        request = tenancy_service_pb2.GetTenantRequest(name="default_tenant")
        with pytest.raises(grpc.RpcError) as info:
            stub.GetTenant(request, timeout=60)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "internal token" in info.value.details()
        assert stub.GetTenant(request, metadata=[(HEADER, token)], timeout=60).tenant.name == \
            "default_tenant"
    for name in ("vector-worker-0", "vector-worker-1"):
        worker = _pod(cluster, name)
        with grpc.insecure_channel(f"{LOOPBACK}:{worker.ports[6101]}") as channel:
            stub = vector_service_pb2_grpc.VectorServiceStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(), timeout=60)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            stub.GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(),
                                metadata=[(HEADER, token)], timeout=60)


def test_every_process_serves_prometheus_metrics_on_its_metrics_port(cluster):
    """GET /metrics on each pod's `metrics` containerPort (the prometheus.io annotations'
    port and path) answers 200 with gRPC server metrics and this process's role."""
    with segmentdb.Client(_gateway_target(cluster), token=_dev_token(cluster),
                          timeout=60) as client:
        client.heartbeat()
        client.list_collections()  # the gateway -> metadata worker calls are counted too
    roles = {"gateway-0": "gateway", "metadata-worker-0": "metadata-worker",
             "vector-worker-0": "vector-worker", "vector-worker-1": "vector-worker"}
    for pod in cluster.pods:
        annotations = pod.workload["spec"]["template"]["metadata"]["annotations"]
        port = int(annotations["prometheus.io/port"])
        assert port == pod.named_port("metrics"), pod.name
        url = f"http://{LOOPBACK}:{pod.ports[port]}{annotations['prometheus.io/path']}"
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200, pod.name
            text = response.read().decode()
        assert re.search(r'^segmentdb_process_info\{.*role="%s"' % roles[pod.name], text,
                         re.M), f"{pod.name}: no segmentdb_process_info role:\n{text[:2000]}"
        assert "# TYPE grpc_server_handled_total counter" in text, pod.name
        assert "grpc_server_handling_seconds_bucket" in text, pod.name
    # The workers really counted the gateway's calls (the token let them through).
    with urllib.request.urlopen(
            f"http://{LOOPBACK}:{_pod(cluster, 'metadata-worker-0').ports[9090]}/metrics",
            timeout=60) as response:
        metadata_text = response.read().decode()
    assert re.search(r'^grpc_server_handled_total\{[^}]*grpc_code="OK"[^}]*\} [1-9]',
                     metadata_text, re.M), metadata_text[:3000]
