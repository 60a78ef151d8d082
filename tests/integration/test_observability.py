"""Metrics, request logs and health of real processes: a metadata worker, a vector worker and
a gateway started with --metrics-port 0 --log-format json --log-level DEBUG; their /metrics
endpoints scraped over HTTP while real calls go through the gateway."""

from __future__ import annotations

import re

import numpy as np
import pytest

import segmentdb
from processes import Process, start
from scrape import handled, json_lines, metrics_port, scrape, value

RECORDS = "segmentdb.v1.RecordService"
COLLECTIONS = "segmentdb.v1.CollectionService"
TOKEN = "s3cr3t-token-never-logged"
# A line in the text format (segmentdb.startup.LOG_FORMAT): must not appear with json.
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ")
OBSERVED = ["--metrics-port", "0", "--log-format", "json", "--log-level", "DEBUG"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("observability")
    data = folder / "data"
    started: list[Process] = []
    try:
        metadata = start("metadata_worker", folder, "metadata", "--path", str(data), *OBSERVED)
        started.append(metadata)
        vector = start("vector_worker", folder, "vector", "--path", str(data),
                       "--metadata", metadata.address, "--memory-budget", "0",
                       "--tail-interval", "0", *OBSERVED)
        started.append(vector)
        gateway = start("gateway", folder, "gateway", "--metadata", metadata.address,
                        "--vector-workers", vector.address, *OBSERVED)
        started.append(gateway)
        ports = {p.name: metrics_port(folder / f"{p.name}.port.json") for p in started}
        yield {"processes": {p.name: p for p in started}, "metrics": ports}
    finally:
        codes = {p.name: p.stop() for p in reversed(started)}
        logs = "\n".join(f"--- {p.name}\n{p.log_path.read_text()}" for p in started)
        assert all(code == 0 for code in codes.values()), f"{codes}\n{logs}"


@pytest.fixture(scope="module")
def client(cluster):
    c = segmentdb.Client(cluster["processes"]["gateway"].address, token=TOKEN)
    yield c
    c.close()


def test_every_process_serves_its_own_metrics(cluster):
    ports = cluster["metrics"]
    assert len(set(ports.values())) == 3
    for name, role in [("metadata", "metadata-worker"), ("vector", "vector-worker"),
                       ("gateway", "gateway")]:
        samples = scrape(ports[name])
        info = [labels for (sample, labels) in samples if sample == "segmentdb_process_info"]
        assert info and dict(info[0])["role"] == role
        assert value(samples, "process_resident_memory_bytes") > 0


def test_request_counters_latency_and_codes_follow_real_calls(cluster, client):
    gateway_port = cluster["metrics"]["gateway"]
    rng = np.random.default_rng(7)
    books = client.create_collection("books")
    books.add(ids=[f"b{i}" for i in range(300)], embeddings=rng.random((300, 16), np.float32),
              metadatas=[{"n": i} for i in range(300)])
    before = scrape(gateway_port)
    for _ in range(3):
        books.query(query_embeddings=rng.random((1, 16), np.float32), n_results=5)
    with pytest.raises(segmentdb.NotFoundError):
        client.get_collection("no-such-collection")
    after = scrape(gateway_port)

    ok_before = handled(before, RECORDS, "QueryRecords", "OK")
    assert handled(after, RECORDS, "QueryRecords", "OK") == ok_before + 3
    assert handled(after, COLLECTIONS, "GetCollection", "NOT_FOUND") == \
        handled(before, COLLECTIONS, "GetCollection", "NOT_FOUND") + 1
    labels = dict(grpc_type="unary", grpc_service=RECORDS, grpc_method="QueryRecords")
    count = value(after, "grpc_server_handling_seconds_count", **labels)
    assert count == value(before, "grpc_server_handling_seconds_count", **labels) + 3
    assert value(after, "grpc_server_handling_seconds_sum", **labels) > \
        value(before, "grpc_server_handling_seconds_sum", **labels)
    # Every histogram bucket is cumulative; +Inf holds them all.
    assert value(after, "grpc_server_handling_seconds_bucket", le="+Inf", **labels) == count
    assert value(after, "segmentdb_rpc_in_flight", grpc_service=RECORDS,
                 grpc_method="QueryRecords") == 0
    # The internal calls were counted by the workers' own interceptors.
    vector = scrape(cluster["metrics"]["vector"])
    assert handled(vector, "segmentdb.internal.v1.VectorService", "Search", "OK") >= 3
    metadata = scrape(cluster["metrics"]["metadata"])
    assert handled(metadata, "segmentdb.internal.v1.MetadataService", "AddRecords", "OK") >= 1


def test_segment_cache_and_storage_metrics_are_read_at_scrape_time(cluster, client):
    vector_port, metadata_port = cluster["metrics"]["vector"], cluster["metrics"]["metadata"]
    rng = np.random.default_rng(8)
    docs = client.create_collection("cache-docs")
    docs.add(ids=[f"d{i}" for i in range(500)], embeddings=rng.random((500, 32), np.float32))
    first = scrape(vector_port)
    docs.query(query_embeddings=rng.random((1, 32), np.float32), n_results=3)
    loaded = scrape(vector_port)
    # The query found the segment loaded (a hit; a write hint may have warmed it) or
    # loaded/rebuilt it (a miss): either way the cache counted one lookup at least.
    lookups = lambda s: (value(s, "segmentdb_segment_cache_hits_total")  # noqa: E731
                         + value(s, "segmentdb_segment_cache_misses_total"))
    readied = lambda s: (value(s, "segmentdb_segment_cache_loads_total")  # noqa: E731
                         + value(s, "segmentdb_segment_cache_rebuilds_total"))
    assert lookups(loaded) >= lookups(first) + 1
    assert readied(loaded) >= 1
    assert value(loaded, "segmentdb_segment_cache_loaded_segments") >= 1
    assert value(loaded, "segmentdb_segment_cache_loaded_bytes") > 500 * 32 * 4
    assert value(loaded, "segmentdb_segment_cache_budget_bytes") == 0  # --memory-budget 0
    # Loaded now: a second query is a hit and loads nothing.
    docs.query(query_embeddings=rng.random((1, 32), np.float32), n_results=3)
    again = scrape(vector_port)
    assert value(again, "segmentdb_segment_cache_hits_total") >= \
        value(loaded, "segmentdb_segment_cache_hits_total") + 1
    assert readied(again) == readied(loaded)
    assert value(again, "segmentdb_segment_cache_evictions_total") == 0

    storage = scrape(metadata_port)
    records = value(storage, "segmentdb_records")
    assert records >= 500
    assert value(storage, "segmentdb_sqlite_bytes") > 0
    docs.add(ids=["late"], embeddings=rng.random((1, 32), np.float32))
    grown = scrape(metadata_port)
    assert value(grown, "segmentdb_records") == records + 1
    assert value(grown, "segmentdb_log_entries") >= 1


def test_json_request_logs_parse_and_never_hold_the_token(cluster, client):
    with pytest.raises(segmentdb.NotFoundError):
        client.get_collection("not-there-either")
    client.list_collections()
    gateway = cluster["processes"]["gateway"]
    text = gateway.log_path.read_text()
    lines = json_lines(text)
    assert lines, text
    assert not [line for line in text.splitlines() if TEXT_LINE.match(line)]
    for line in lines:
        assert {"ts", "level", "logger", "pid", "msg"} <= set(line)
        assert line["pid"] == gateway.proc.pid
    requests = [line for line in lines if line["logger"] == "segmentdb.rpc"]
    missing = [r for r in requests if r.get("rpc") == f"/{COLLECTIONS}/GetCollection"
               and r["code"] == "NOT_FOUND"]
    assert missing and missing[-1]["level"] == "DEBUG"
    assert isinstance(missing[-1]["duration_ms"], float) and missing[-1]["duration_ms"] >= 0
    assert missing[-1]["peer"].startswith(("ipv4:", "ipv6:"))
    assert any(r.get("rpc") == f"/{COLLECTIONS}/ListCollections" and r["code"] == "OK"
               for r in requests)
    # No request line for health checks (the gateway's prober calls the vector worker's).
    vector_log = cluster["processes"]["vector"].log_path.read_text()
    assert not [r for r in json_lines(vector_log) if "grpc.health" in str(r.get("rpc"))]
    for process in cluster["processes"].values():
        assert TOKEN not in process.log_path.read_text()
