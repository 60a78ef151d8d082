"""The seed's section 5 example (examples/python/export_import_csv.py) runs as written, after
only `import segmentdb as chromadb`, against two real embedded services; the restored
collection is then found by meaning with query_texts."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pandas as pd

import segmentdb

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "python" / "export_import_csv.py"
SEED = REPO.parent / "shared" / "seed" / "000_a13b03a49304a20a.txt"


def _seed_code() -> str:
    """The seed's section 5 code: from `import chromadb` to the end of the last add."""
    text = SEED.read_text()
    start = text.index("import chromadb")
    end = text.index("\n)", text.index("new_coll.add(")) + 2
    return text[start:end]


def test_the_example_is_the_seed_code_but_for_its_import():
    example = EXAMPLE.read_text()
    body = example[example.index("client = chromadb.PersistentClient"):].strip()
    if SEED.exists():  # shared/ lies beside the repository in the workplace and CI
        seed = _seed_code()
        assert body == seed[seed.index("client = chromadb.PersistentClient"):].strip()
        assert seed.startswith("import chromadb\nimport pandas as pd")
    assert re.search(r"^import segmentdb as chromadb\nimport pandas as pd$", example, re.M)


def test_the_example_runs_and_the_restored_collection_answers_by_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope = runpy.run_path(str(EXAMPLE), run_name="__main__")
    clients = [scope["_base"], scope["client"], scope["new_client"]]
    try:
        exported = pd.read_csv(tmp_path / "my_export.csv")
        assert sorted(exported["ids"]) == sorted(scope["data"]["ids"]) and len(exported) == 5
        # The same folder as the example's new instance (its service is shared while open).
        clients.append(segmentdb.PersistentClient(path="./backup_db"))
        restored = clients[-1].get_collection("restored_data")
        assert restored.count() == 5
        assert restored.configuration["embedding_function"]["name"] == "default"
        hits = restored.query(query_texts=["how do I make a copy of my database?"],
                              n_results=2, include=["documents", "metadatas"])
        assert hits["ids"][0][0] == "doc-backup", hits
        assert hits["metadatas"][0][0] == {"topic": "backup"}
        hits = restored.query(query_texts=["which file keeps the metadata?"], n_results=1)
        assert hits["ids"] == [["doc-sqlite"]], hits
    finally:
        for client in clients:
            client.close()
