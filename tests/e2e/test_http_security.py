"""The HTTP API under the gRPC side's rules, through a real `segmentdb serve
--auth-tokens-file ... --http-port auto`: the same tokens (Authorization: Bearer or
X-Chroma-Token) with the same roles and tenants, the same body limit (--max-message-size),
HTTP request metrics on the gateway's metrics port, one DEBUG log line per request and no
token in the log; the stock chromadb.HttpClient with a token."""

from __future__ import annotations

import json

import httpx
import pytest

from http_api import start_http_service, stop
from scrape import scrape, value

OPS = "ops-token-0123456789abcdef"
ACME_WRITE = "acme-writer-0123456789abcdef"
ACME_READ = "acme-reader-0123456789abcdef"
TOKENS = [OPS, ACME_WRITE, ACME_READ]
MAX_BODY = 64 * 1024
V2 = "/api/v2"


def _db(tenant: str) -> str:
    return f"{V2}/tenants/{tenant}/databases/default_database"


@pytest.fixture(scope="module")
def secured(tmp_path_factory, lifecycle):
    folder = tmp_path_factory.mktemp("http-auth")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"name": "ops", "token": OPS, "tenants": "*", "role": "admin"},
        {"name": "acme-app", "token": ACME_WRITE, "tenants": ["acme"], "role": "write"},
        {"name": "acme-report", "token": ACME_READ, "tenants": ["acme"], "role": "read"},
    ]}))
    data = folder / "data"
    running, base = start_http_service(lifecycle, data, extra=[
        "--auth-tokens-file", str(tokens), "--max-message-size", str(MAX_BODY),
        "--metrics-port", "0", "--log-level", "DEBUG"])
    metrics_port = json.loads((folder / "data.port.json").read_text())["metrics_ports"]["gateway"]
    ops = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {OPS}"})
    ids = {}
    for tenant in ("acme", "beta"):
        assert ops.post(V2 + "/tenants", json={"name": tenant}).status_code == 200
        assert ops.post(f"{V2}/tenants/{tenant}/databases",
                        json={"name": "default_database"}).status_code == 200
        created = ops.post(f"{_db(tenant)}/collections", json={"name": "docs"})
        assert created.status_code == 200, created.text
        ids[tenant] = created.json()["id"]
    ops.close()
    yield {"running": running, "base": base, "ids": ids, "metrics_port": metrics_port}
    stop(lifecycle, running)
    log = running.log()
    for token in TOKENS:
        assert token not in log, "a token was written to the log"


def _http(secured, token=None, header="authorization"):
    headers = {}
    if token is not None:
        headers = ({"Authorization": f"Bearer {token}"} if header == "authorization"
                   else {"X-Chroma-Token": token})
    return httpx.Client(base_url=secured["base"], timeout=60, headers=headers)


def _add(collection_id: str, n: int = 2) -> dict:
    return {"ids": [f"r{i}" for i in range(n)], "embeddings": [[float(i), 1.0] for i in range(n)]}


def test_no_or_unknown_token_is_401(secured):
    for token in (None, "not-a-configured-token-at-all"):
        with _http(secured, token) as http:
            response = http.get(f"{_db('acme')}/collections")
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "AuthorizationError"
        assert "token" in response.json()["message"]


@pytest.mark.parametrize("header", ["authorization", "x-chroma-token"])
def test_both_chroma_token_headers_authenticate(secured, header):
    with _http(secured, ACME_WRITE, header) as http:
        collection_id = secured["ids"]["acme"]
        response = http.post(f"{_db('acme')}/collections/{collection_id}/upsert",
                             json=_add(collection_id))
        assert response.status_code == 200, response.text
        assert http.get(f"{_db('acme')}/collections/{collection_id}/count").json() == 2
        identity = http.get(V2 + "/auth/identity").json()
    assert identity["user_id"] == "acme-app" and identity["tenant"] == "acme"


def test_roles_and_tenants_are_the_grpc_rules(secured):
    acme, beta = secured["ids"]["acme"], secured["ids"]["beta"]
    with _http(secured, ACME_READ) as reader:
        assert reader.post(f"{_db('acme')}/collections/{acme}/get", json={}).status_code == 200
        denied = reader.post(f"{_db('acme')}/collections/{acme}/add", json=_add(acme))
        assert denied.status_code == 403 and denied.json()["error"] == "AuthError"
        assert "role" in denied.json()["message"]
    with _http(secured, ACME_WRITE) as writer:
        by_name = writer.get(f"{_db('beta')}/collections")
        assert by_name.status_code == 403 and "tenant" in by_name.json()["message"]
        # beta's collection id under acme's path: the id's own tenant decides
        by_id = writer.post(f"{_db('acme')}/collections/{beta}/add", json=_add(beta))
        assert by_id.status_code == 403, by_id.text
        assert writer.post(V2 + "/tenants", json={"name": "gamma"}).status_code == 403
        assert writer.post(V2 + "/reset").status_code == 403  # disabled; needs admin anyway
    with _http(secured, OPS) as ops:
        assert ops.get(f"{_db('beta')}/collections/{beta}/count").json() == 0


def test_body_over_the_message_limit_is_413_and_writes_nothing(secured):
    acme = secured["ids"]["acme"]
    rows = 2000  # ~100 KB of JSON > 64 KiB
    body = {"ids": [f"big{i}" for i in range(rows)],
            "embeddings": [[0.123456789, 0.987654321]] * rows}
    with _http(secured, ACME_WRITE) as http:
        before = http.get(f"{_db('acme')}/collections/{acme}/count").json()
        response = http.post(f"{_db('acme')}/collections/{acme}/add", json=body)
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "BatchSizeExceededError"
        assert "--max-message-size" in response.json()["message"]
        assert http.get(f"{_db('acme')}/collections/{acme}/count").json() == before


def test_requests_are_counted_and_logged(secured):
    route = V2 + "/tenants/{tenant}/databases/{database}/collections/{collection}/count"
    before = scrape(secured["metrics_port"])
    with _http(secured, ACME_READ) as http:
        for _ in range(3):
            assert http.get(f"{_db('acme')}/collections/{secured['ids']['acme']}/count"
                            ).status_code == 200
        assert http.get(f"{_db('acme')}/collections/{secured['ids']['beta']}/count"
                        ).status_code == 403
    after = scrape(secured["metrics_port"])

    def moved(status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return (value(after, "segmentdb_http_requests_total", **labels)
                - value(before, "segmentdb_http_requests_total", **labels))

    assert moved("200") == 3 and moved("403") == 1
    assert value(after, "segmentdb_http_request_seconds_count", method="GET", route=route) >= 4
    log = secured["running"].log()
    assert f"http GET {route} 200" in log and f"http GET {route} 403" in log


def test_stock_chroma_client_with_a_token(secured):
    import chromadb
    from chromadb.config import Settings

    port = int(secured["base"].rsplit(":", 1)[1])
    client = chromadb.HttpClient(
        host="127.0.0.1", port=port, tenant="acme", database="default_database",
        headers={"Authorization": f"Bearer {ACME_WRITE}"},
        settings=Settings(anonymized_telemetry=False))
    docs = client.get_collection("docs")
    docs.upsert(ids=["chroma"], embeddings=[[0.5, 0.5]], documents=["via chromadb"])
    assert docs.get(ids=["chroma"])["documents"] == ["via chromadb"]
    with pytest.raises(chromadb.errors.ChromaAuthError):  # our 403, Chroma's "AuthError"
        chromadb.HttpClient(host="127.0.0.1", port=port, tenant="beta",
                            headers={"Authorization": f"Bearer {ACME_WRITE}"},
                            settings=Settings(anonymized_telemetry=False)).list_collections()
