"""PersistentClient: the embedded way, which starts `segmentdb serve` itself; and a script
written for chromadb that runs unchanged with `import segmentdb as chromadb`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

import segmentdb

REPO = Path(__file__).resolve().parents[2]


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) for every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return table


def _descendants(root: int) -> set[int]:
    table = _process_table()
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in frontier}
        frontier = children - found
        found |= children
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def _mentioning(text: str) -> set[int]:
    return {pid for pid, (_, state, cmd) in _process_table().items()
            if text in cmd and state != "Z" and pid != os.getpid()}


def _wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


def test_persistent_client_is_a_context_manager_that_leaves_no_process(tmp_path):
    before = _descendants(os.getpid())
    path = tmp_path / "embedded"

    with segmentdb.PersistentClient(path=str(path)) as client:
        started = _descendants(os.getpid()) - before
        assert started, "PersistentClient started no process"
        collection = client.create_collection("embedded")
        collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]],
                       documents=["first", "second"])
        assert collection.query(query_embeddings=[[0.9, 0.1]], n_results=1)["ids"] == [["a"]]

    assert not _wait_gone(started), f"left behind: {_alive(started)}"
    assert not _mentioning(str(path)), "a process still serves the folder"
    assert (path / "chroma.sqlite3").exists()

    with segmentdb.PersistentClient(path=str(path)) as client:  # and the data is still there
        assert client.get_collection("embedded").get()["documents"] == ["first", "second"]
    assert not _mentioning(str(path))


CHROMADB_SCRIPT = textwrap.dedent("""
    import segmentdb as chromadb

    client = chromadb.PersistentClient(path={path!r})
    collection = client.create_collection(name="my_data")
    collection.add(
        ids=["id1", "id2", "id3"],
        embeddings=[[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [10.0, 10.0, 10.0]],
        documents=["apples", "pears", "rocks"],
        metadatas=[{{"kind": "fruit"}}, {{"kind": "fruit"}}, {{"kind": "mineral"}}],
    )
    results = collection.query(query_embeddings=[[1.0, 2.0, 3.1]], n_results=2)
    print("query", results["ids"][0], results["documents"][0])
    data = collection.get(where={{"kind": "fruit"}}, include=["documents", "metadatas"])
    print("get", data["ids"], data["documents"])
    print("count", collection.count())
""")


def test_a_chromadb_script_runs_unchanged(tmp_path):
    path = tmp_path / "chroma_data"
    script = tmp_path / "script.py"
    script.write_text(CHROMADB_SCRIPT.format(path=str(path)))

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "query ['id1', 'id2'] ['apples', 'pears']",
        "get ['id1', 'id2'] ['apples', 'pears']",
        "count 3",
    ]
    deadline = time.monotonic() + 10
    while _mentioning(str(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _mentioning(str(path)), "the script's service outlived the script"


def test_vectors_survive_a_persistent_client_round_trip(tmp_path):
    vectors = np.random.default_rng(3).standard_normal((20, 6)).astype(np.float32)
    with segmentdb.PersistentClient(path=str(tmp_path / "p")) as client:
        client.create_collection("vectors").add(ids=[str(i) for i in range(20)], embeddings=vectors)
    with segmentdb.PersistentClient(path=str(tmp_path / "p")) as client:
        got = client.get_collection("vectors").get(include=["embeddings"])
    np.testing.assert_array_equal(got["embeddings"], vectors)
