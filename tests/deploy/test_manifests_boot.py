"""Boot the dev overlay's pods as real processes and use the service through the gateway.

The commands, arguments, variables, ports and probes come from `kubectl kustomize
deploy/overlays/dev`; only cluster DNS names, ports and volumes are mapped to this machine
(tests/deploy/local_pods.py). A flag renamed in the code, a variable the manifests set that
no process reads, a wrong Service port or a vector worker list that does not match the
StatefulSet fails here before it fails in a cluster.
"""

from __future__ import annotations

import numpy as np
import pytest

import segmentdb
from deploy_manifests import Rendered, render
from local_pods import LocalCluster


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


def test_the_dev_manifests_boot_a_working_service(cluster):
    rendered = cluster.rendered
    names = sorted(pod.name for pod in cluster.pods)
    assert names == ["gateway-0", "metadata-worker-0", "vector-worker-0", "vector-worker-1"]

    # The address clients use: the gateway Service's port.
    gateway = rendered.get("Service", "gateway")
    target = cluster.address(f"gateway:{gateway['spec']['ports'][0]['port']}")
    client = segmentdb.Client(target)
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
