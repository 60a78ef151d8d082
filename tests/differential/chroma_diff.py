"""Differential driver: run one seeded sequence of chromadb-API calls and dump every result.

    python chroma_diff.py --backend chroma    --seed 3 --out /tmp/diff/chroma-3.json
    python chroma_diff.py --backend segmentdb --seed 3 --out /tmp/diff/sdb-3.json \
        --target 127.0.0.1:PORT                  (or --port-file FILE)
    python compare.py /tmp/diff/chroma-3.json /tmp/diff/sdb-3.json

Runs under either interpreter: chromadb's venv (chromadb 1.5.9) or segmentdb's. The sequence
of calls depends only on the seed, never on what a backend answered, so two runs with the same
seed are step-for-step comparable. Embeddings are always passed explicitly; collections are
created with embedding_function=None so chromadb never tries to load its default model.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import traceback
from typing import Any, Callable

import numpy as np

WORDS = ["apple pie", "Banana split", "cherry tart", "apple", "banana bread", "Cherry", "date",
         "apple banana", "x-ray", ""]
STRS = ["apple", "banana", "cherry"]
TAGS = ["red", "green", "blue"]


# ---------------------------------------------------------------- normalization

def type_of(value: Any, depth: int = 3) -> str:
    """A short type description ('list[ndarray(float32)]') so list-vs-numpy shows up."""
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype},{value.ndim}d)"
    if isinstance(value, (list, tuple)):
        inner = type_of(value[0], depth - 1) if value and depth > 0 else "?"
        return f"{type(value).__name__}[{inner}]"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def norm(value: Any) -> Any:
    """JSON-able, rounded, with numpy marked (floats 4 decimals; int/float/bool kept apart)."""
    if value is None or isinstance(value, (bool, str, int)) and not isinstance(value, np.generic):
        return value if not isinstance(value, str) or type(value) is str else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        return round(value, 4)
    if isinstance(value, np.bool_):
        return {"np": "bool_", "v": bool(value)}
    if isinstance(value, np.integer):
        return {"np": str(value.dtype), "v": int(value)}
    if isinstance(value, np.floating):
        return {"np": str(value.dtype), "v": round(float(value), 4)}
    if isinstance(value, np.ndarray):
        return {"ndarray": str(value.dtype), "v": [norm(float(x)) if isinstance(x, np.floating) else norm(x)
                                                  for x in value.ravel().tolist()], "shape": list(value.shape)}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {str(k): norm(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "metadata") and hasattr(value, "id"):
        return norm_collection(value)
    return {"repr": type(value).__name__}


def norm_collection(col: Any) -> dict:
    config = getattr(col, "configuration", None) or {}
    hnsw = config.get("hnsw") if isinstance(config, dict) else None
    keep = ("space", "ef_construction", "ef_search", "max_neighbors")
    return {
        "collection": col.name,
        "metadata": norm(col.metadata),
        "hnsw": {k: norm(hnsw.get(k)) for k in keep} if isinstance(hnsw, dict) else norm(hnsw),
    }


def norm_result(value: Any) -> Any:
    """Results of get/query get their keys and per-key types recorded as well."""
    if isinstance(value, dict) and "ids" in value:
        return {
            "keys": sorted(value.keys()),
            "types": {k: type_of(v) for k, v in sorted(value.items())},
            "values": {k: norm(v) for k, v in sorted(value.items())},
        }
    return norm(value)


# ---------------------------------------------------------------- backends

class Backend:
    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.tmpdir = None
        if name == "chroma":
            import chromadb
            self.tmpdir = tempfile.mkdtemp(prefix="chroma-diff-")
            self.client = chromadb.PersistentClient(path=self.tmpdir)
        else:
            import segmentdb
            target = args.target
            if not target:
                with open(args.port_file) as f:
                    target = f"127.0.0.1:{json.load(f)['port']}"
            self.client = segmentdb.Client(target)
            for col in self.client.list_collections():  # a fresh database per run
                self.client.delete_collection(col.name)

    def create(self, name, **kw):
        return self.client.create_collection(name, embedding_function=None, **kw)

    def get_or_create(self, name, **kw):
        return self.client.get_or_create_collection(name, embedding_function=None, **kw)

    def get(self, name):
        return self.client.get_collection(name, embedding_function=None)

    def close(self):
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------- the recorder

class Recorder:
    def __init__(self):
        self.steps: list[dict] = []

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        entry: dict[str, Any] = {"step": name}
        try:
            result = fn()
            entry["raised"] = False
            entry["result"] = norm_result(result)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # noqa: BLE001 - every exception (even a pyo3 panic) is an observation
            result = None
            entry["raised"] = True
            entry["error"] = type(err).__name__
            entry["bases"] = [c.__name__ for c in type(err).__mro__
                              if c.__module__ == "builtins" and c not in (object, BaseException)]
            entry["message"] = str(err)[:300]
            if not isinstance(err, (ValueError, TypeError, KeyError, LookupError)) and \
                    type(err).__module__ == "builtins":
                entry["traceback"] = traceback.format_exc()[-600:]
        self.steps.append(entry)
        return result


# ---------------------------------------------------------------- scenario helpers

def vec(rng: random.Random, dim: int) -> list[float]:
    return [round(rng.uniform(-1, 1), 3) for _ in range(dim)]


def rand_metadata(rng: random.Random) -> dict | None:
    if rng.random() < 0.1:
        return None
    md: dict[str, Any] = {}
    if rng.random() < 0.8:
        md["i"] = rng.randint(0, 5)
    if rng.random() < 0.7:
        md["f"] = rng.choice([0.5, 1.0, 2.5, 3.0, 4.75])
    if rng.random() < 0.7:
        md["s"] = rng.choice(STRS)
    if rng.random() < 0.6:
        md["b"] = rng.random() < 0.5
    if rng.random() < 0.5:
        md["tags"] = rng.sample(TAGS, rng.randint(1, 3))
    if rng.random() < 0.4:
        md["nums"] = rng.sample([1, 2, 3], rng.randint(1, 3))
    if rng.random() < 0.5:  # a key whose type differs from record to record
        md["mix"] = rng.choice([1, 2, 2.0, 3.5, "2", True])
    return md or None


AVOID_KNOWN = False  # --avoid-known: no fractional operands (chromadb truncates them against ints)


def rand_leaf(rng: random.Random) -> dict:
    key = rng.choice(["i", "f", "s", "b", "tags", "nums", "mix", "zz"])
    num = rng.choice([0, 1, 2, 3, 2.0, 3.0, 2.5, 4])
    if AVOID_KNOWN and num == 2.5:
        num = 4.0
    choices: list[dict] = [
        {key: num},
        {key: {rng.choice(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]): num}},
        {key: {rng.choice(["$in", "$nin"]): rng.sample([0, 1, 2, 3, 4, 5], rng.randint(1, 3))}},
        {key: {rng.choice(["$in", "$nin"]): [rng.choice([1.0, 2.0, 2.0 if AVOID_KNOWN else 2.5])]}},
        {key: {rng.choice(["$eq", "$ne"]): rng.choice(STRS)}},
        {key: {rng.choice(["$in", "$nin"]): rng.sample(STRS, rng.randint(1, 2))}},
        {key: {rng.choice(["$eq", "$ne"]): rng.random() < 0.5}},
        {key: {rng.choice(["$in", "$nin"]): [rng.random() < 0.5]}},
        {key: {rng.choice(["$contains", "$not_contains"]): rng.choice(TAGS + [1, 2, 3, "apple", "app"])}},
        {key: rng.choice(STRS + TAGS)},
    ]
    return rng.choice(choices)


def rand_where(rng: random.Random, depth: int = 0) -> dict:
    if depth < 2 and rng.random() < 0.3:
        op = rng.choice(["$and", "$or"])
        return {op: [rand_where(rng, depth + 1) for _ in range(rng.randint(2, 3))]}
    return rand_leaf(rng)


def rand_where_document(rng: random.Random, depth: int = 0) -> dict:
    if depth < 1 and rng.random() < 0.25:
        op = rng.choice(["$and", "$or"])
        return {op: [rand_where_document(rng, depth + 1) for _ in range(2)]}
    op = rng.choice(["$contains", "$not_contains", "$regex", "$not_regex"])
    if "regex" in op:
        return {op: rng.choice(["^apple", "pie$", "[Bb]anana", "a.*t", "^$", "(?i)cherry", "\\d"])}
    return {op: rng.choice(["apple", "Apple", "banana", "Cherry", "an", " ", "x-"])}


def rand_include(rng: random.Random, query: bool) -> list[str]:
    pool = ["documents", "metadatas", "embeddings"] + (["distances"] if query else [])
    return rng.sample(pool, rng.randint(0, len(pool)))


# ---------------------------------------------------------------- scenarios

def collections_scenario(b: Backend, r: Recorder) -> None:
    s = r.step
    s("create basic", lambda: b.create("c-basic"))
    s("create existing", lambda: b.create("c-basic"))
    s("create existing get_or_create=True", lambda: b.client.create_collection(
        "c-basic", embedding_function=None, get_or_create=True))
    s("get_or_create existing new metadata", lambda: b.get_or_create("c-basic", metadata={"x": 1}))
    s("get basic after goc", lambda: b.get("c-basic"))
    s("get_or_create new with metadata", lambda: b.get_or_create("c-goc", metadata={"x": 1, "y": "z"}))
    s("get unknown", lambda: b.get("nope-nope"))
    for bad in ["ab", "-abc", "abc-", "a..b", "a b c", "", "x" * 513, "abc!", "1.2.3.4", "_abc",
                "ABC", "a_b-c.d", "x" * 64, "x" * 512, "ñandú"]:
        s(f"create name {bad[:20]!r} len={len(bad)}", lambda bad=bad: b.create(bad))
    s("create name int", lambda: b.create(123))
    s("create name None", lambda: b.create(None))
    s("create config cosine", lambda: b.create("c-cos", configuration={"hnsw": {"space": "cosine"}}))
    s("create config ip", lambda: b.create("c-ip", configuration={"hnsw": {"space": "ip"}}))
    s("create config bad space", lambda: b.create("c-badspace", configuration={"hnsw": {"space": "manhattan"}}))
    s("create config unknown hnsw key", lambda: b.create("c-badkey", configuration={"hnsw": {"foo": 1}}))
    s("create config ef_search", lambda: b.create("c-ef", configuration={"hnsw": {"ef_search": 33, "max_neighbors": 8}}))
    s("create metadata hnsw:space ip", lambda: b.create("c-md-ip", metadata={"hnsw:space": "ip"}))
    s("create metadata hnsw:space bad", lambda: b.create("c-md-bad", metadata={"hnsw:space": "foo"}))
    s("create config+metadata conflict", lambda: b.create(
        "c-conflict", configuration={"hnsw": {"space": "cosine"}}, metadata={"hnsw:space": "ip"}))
    s("create config+metadata agree", lambda: b.create(
        "c-agree", configuration={"hnsw": {"space": "cosine"}}, metadata={"hnsw:space": "cosine"}))
    s("create metadata empty dict", lambda: b.create("c-md-empty", metadata={}))
    s("create metadata list value", lambda: b.create("c-md-list", metadata={"l": [1, 2]}))
    s("create metadata None value", lambda: b.create("c-md-none", metadata={"k": None}))
    s("create metadata nested dict", lambda: b.create("c-md-nested", metadata={"k": {"a": 1}}))
    s("create metadata empty key", lambda: b.create("c-md-ekey", metadata={"": 1}))
    s("create metadata bool/float", lambda: b.create("c-md-types", metadata={"b": True, "f": 1.5, "i": 2}))
    s("list_collections names", lambda: sorted(c.name for c in b.client.list_collections()))
    s("list_collections limit 2", lambda: len(b.client.list_collections(limit=2)))
    s("list_collections offset 100", lambda: len(b.client.list_collections(offset=100)))
    s("count_collections", lambda: b.client.count_collections())
    # modify
    col = s("get c-goc", lambda: b.get("c-goc"))
    if col is not None:
        s("modify rename", lambda: (col.modify(name="c-renamed"), col.name)[1])
        s("get old name after rename", lambda: b.get("c-goc"))
        s("get new name after rename", lambda: b.get("c-renamed"))
        s("modify rename to existing", lambda: col.modify(name="c-basic"))
        s("modify rename bad name", lambda: col.modify(name="a"))
        s("modify metadata replace", lambda: (col.modify(metadata={"new": 2}), b.get("c-renamed").metadata)[1])
        s("modify metadata hnsw:space", lambda: col.modify(metadata={"hnsw:space": "cosine"}))
        s("metadata after hnsw modify", lambda: b.get("c-renamed").metadata)
        s("modify config ef_search", lambda: (col.modify(configuration={"hnsw": {"ef_search": 50}}),
                                               norm_collection(b.get("c-renamed")))[1])
        s("modify config space", lambda: col.modify(configuration={"hnsw": {"space": "ip"}}))
        s("modify config max_neighbors", lambda: col.modify(configuration={"hnsw": {"max_neighbors": 4}}))
        s("modify metadata empty", lambda: (col.modify(metadata={}), b.get("c-renamed").metadata)[1])
        s("modify metadata None value", lambda: col.modify(metadata={"k": None}))
        s("modify nothing", lambda: col.modify())
    s("delete collection", lambda: b.client.delete_collection("c-renamed"))
    s("delete unknown collection", lambda: b.client.delete_collection("c-renamed"))
    s("get deleted", lambda: b.get("c-renamed"))
    s("count_collections after delete", lambda: b.client.count_collections())
    # a Collection handle used after its collection was deleted
    stale = s("create stale", lambda: b.create("c-stale"))
    if stale is not None:
        b.client.delete_collection("c-stale")
        s("stale add", lambda: stale.add(ids=["a"], embeddings=[[1.0, 2.0]]))
        s("stale count", lambda: stale.count())
        s("stale get", lambda: stale.get())


def bad_input_scenario(b: Backend, r: Recorder) -> None:
    s = r.step
    col = s("create c-bad", lambda: b.create("c-bad"))
    if col is None:
        return
    s("add first", lambda: col.add(ids=["a", "b"], embeddings=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                                   documents=["alpha doc", None], metadatas=[{"k": 1}, None]))
    side = s("create c-side", lambda: b.create("c-side"))
    s("side add", lambda: side.add(ids=["a"], embeddings=[[1.0, 0.0, 0.0]], documents=["alpha doc"], metadatas=[{"k": 1}]))
    s("add wrong dimension", lambda: col.add(ids=["c"], embeddings=[[1.0, 2.0]]))
    s("upsert wrong dimension", lambda: col.upsert(ids=["a"], embeddings=[[1.0, 2.0]]))
    s("update wrong dimension", lambda: col.update(ids=["a"], embeddings=[[1.0, 2.0]]))
    s("query wrong dimension", lambda: col.query(query_embeddings=[[1.0, 2.0]], n_results=1))
    s("count after wrong dims", lambda: col.count())
    s("add NaN", lambda: col.add(ids=["n"], embeddings=[[float("nan"), 0.0, 0.0]]))
    s("add inf", lambda: col.add(ids=["n"], embeddings=[[float("inf"), 0.0, 0.0]]))
    s("query NaN", lambda: col.query(query_embeddings=[[float("nan"), 0.0, 0.0]], n_results=1))
    s("add empty id", lambda: col.add(ids=[""], embeddings=[[0.0, 0.0, 1.0]]))
    s("add duplicate ids", lambda: col.add(ids=["d", "d"], embeddings=[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    s("upsert duplicate ids", lambda: col.upsert(ids=["d", "d"], embeddings=[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    s("get duplicate ids", lambda: col.get(ids=["a", "a"]))
    s("delete duplicate ids", lambda: col.delete(ids=["zzz", "zzz"]))
    s("add ragged", lambda: col.add(ids=["r1", "r2"], embeddings=[[0.0, 0.0, 1.0], [0.0, 1.0]]))
    s("add embeddings count mismatch", lambda: col.add(ids=["m1", "m2"], embeddings=[[0.0, 0.0, 1.0]]))
    s("add metadatas count mismatch", lambda: col.add(ids=["m1"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"a": 1}, {"a": 2}]))
    s("add documents count mismatch", lambda: col.add(ids=["m1"], embeddings=[[0.0, 0.0, 1.0]], documents=["x", "y"]))
    s("add ids empty list", lambda: col.add(ids=[], embeddings=[]))
    s("add no embeddings no ef", lambda: col.add(ids=["ne"], documents=["text"]))
    s("add id not str", lambda: col.add(ids=[5], embeddings=[[0.0, 0.0, 1.0]]))
    s("add single id string", lambda: col.add(ids="single", embeddings=[0.5, 0.5, 0.5]))
    s("add numpy embeddings", lambda: col.add(ids=["np1"], embeddings=np.array([[0.1, 0.2, 0.3]], dtype=np.float32)))
    s("add metadata None value", lambda: side.add(ids=["mn"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": None}]))
    s("add metadata empty dict", lambda: side.add(ids=["me"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{}]))
    s("get metadata empty dict", lambda: side.get(ids=["me"]))
    s("add metadata nested", lambda: col.add(ids=["mx"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": {"a": 1}}]))
    s("add metadata empty list", lambda: col.add(ids=["mx"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": []}]))
    s("add metadata mixed list", lambda: col.add(ids=["mx"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": [1, "a"]}]))
    s("add metadata int+float list", lambda: col.add(ids=["mif"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": [1, 2.5]}]))
    s("get int+float list", lambda: col.get(ids=["mif"]))
    s("add metadata bool list", lambda: col.add(ids=["mbl"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": [True, False]}]))
    s("add metadata empty key", lambda: col.add(ids=["mk"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"": 1}]))
    s("add metadata key #doc", lambda: side.add(ids=["mh"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"#document": "x"}]))
    s("add metadata key chroma:doc", lambda: side.add(ids=["mc"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"chroma:document": "x"}]))
    s("add metadata huge int", lambda: side.add(ids=["mhi"], embeddings=[[0.0, 0.0, 1.0]], metadatas=[{"k": 2**70}]))
    s("add metadata not dict", lambda: col.add(ids=["mnd"], embeddings=[[0.0, 0.0, 1.0]], metadatas=["x"]))
    s("add document not str", lambda: col.add(ids=["dn"], embeddings=[[0.0, 0.0, 1.0]], documents=[5]))
    s("add images", lambda: side.add(ids=["img"], embeddings=[[0.0, 0.0, 1.0]], images=[np.zeros((2, 2, 3))]))
    s("count after bad adds", lambda: col.count())
    s("get all after bad adds", lambda: col.get(include=["metadatas", "documents", "embeddings"]))
    # filters
    W = lambda where, **kw: (lambda: col.get(where=where, **kw))  # noqa: E731
    s("where unknown operator", W({"k": {"$foo": 1}}))
    s("where unknown top operator", W({"$xor": [{"k": 1}, {"k": 2}]}))
    s("where $gt string", W({"k": {"$gt": "a"}}))
    s("where $gt bool", W({"k": {"$gt": True}}))
    s("where $gt list", W({"k": {"$gt": [1]}}))
    s("where empty", W({}))
    s("where two keys", W({"k": 1, "j": 2}))
    s("where two ops one key", W({"k": {"$gt": 0, "$lt": 5}}))
    s("where op dict empty", W({"k": {}}))
    s("where $and one clause", W({"$and": [{"k": 1}]}))
    s("where $and empty", W({"$and": []}))
    s("where $or one clause", W({"$or": [{"k": 1}]}))
    s("where $and not list", W({"$and": {"k": 1}}))
    s("where $in not list", W({"k": {"$in": 1}}))
    s("where $in empty", W({"k": {"$in": []}}))
    s("where $nin empty", W({"k": {"$nin": []}}))
    s("where $in mixed types", W({"k": {"$in": [1, "a"]}}))
    s("where $in int+float", W({"k": {"$in": [1, 2.5]}}))
    s("where $contains list operand", W({"k": {"$contains": [1]}}))
    s("where value None", W({"k": None}))
    s("where value list", W({"k": [1, 2]}))
    s("where value dict not op", W({"k": {"a": 1}}))
    s("where not dict", W("k"))
    s("where key $-prefixed unknown", W({"$k": 1}))
    s("where_document empty", lambda: col.get(where_document={}))
    s("where_document non-str", lambda: col.get(where_document={"$contains": 3}))
    s("where_document unknown op", lambda: col.get(where_document={"$foo": "a"}))
    s("where_document bad regex", lambda: col.get(where_document={"$regex": "("}))
    s("where_document two keys", lambda: col.get(where_document={"$contains": "a", "$regex": "b"}))
    s("where_document $and one", lambda: col.get(where_document={"$and": [{"$contains": "a"}]}))
    s("where_document empty string", lambda: col.get(where_document={"$contains": ""}))
    s("where_document $eq", lambda: col.get(where_document={"$eq": "alpha doc"}))
    # include / n_results / limit
    s("get include distances", lambda: col.get(include=["distances"]))
    s("get include unknown", lambda: col.get(include=["foo"]))
    s("get include data", lambda: col.get(include=["data"]))
    s("get include uris", lambda: col.get(include=["uris"]))
    s("get include empty", lambda: col.get(include=[]))
    s("query include uris", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1, include=["uris"]))
    s("query n_results 0", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=0))
    s("query n_results -1", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=-1))
    s("query n_results float", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1.5))
    s("query n_results huge", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1000))
    s("query empty list", lambda: col.query(query_embeddings=[], n_results=1))
    s("query single flat vector", lambda: col.query(query_embeddings=[1.0, 0.0, 0.0], n_results=2))
    s("query numpy 1d", lambda: col.query(query_embeddings=np.array([1.0, 0.0, 0.0]), n_results=2))
    s("query ids", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], ids=["b", "np1"], n_results=5))
    s("query ids unknown", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], ids=["nope"], n_results=5))
    s("query ids empty list", lambda: col.query(query_embeddings=[[1.0, 0.0, 0.0]], ids=[], n_results=5))
    s("query no embeddings", lambda: col.query(n_results=1))
    s("query texts no ef", lambda: col.query(query_texts=["x"], n_results=1))
    s("get limit 0", lambda: col.get(limit=0))
    s("get limit -1", lambda: col.get(limit=-1))
    s("get offset -1", lambda: col.get(offset=-1))
    s("get offset only", lambda: col.get(offset=2))
    s("get offset beyond", lambda: col.get(offset=100))
    s("get ids empty list", lambda: col.get(ids=[]))
    s("get ids unknown", lambda: col.get(ids=["nope", "a"]))
    s("get ids order", lambda: col.get(ids=["b", "a"]))
    s("get ids single str", lambda: col.get(ids="a"))
    s("peek", lambda: col.peek())
    s("peek 1", lambda: col.peek(1))
    s("peek 0", lambda: col.peek(0))
    # writes on existing / unknown ids
    s("add existing id", lambda: col.add(ids=["a"], embeddings=[[0.0, 0.0, 5.0]], documents=["changed"], metadatas=[{"k": 99}]))
    s("get after add existing", lambda: col.get(ids=["a"], include=["documents", "metadatas", "embeddings"]))
    s("add existing + new", lambda: col.add(ids=["a", "fresh"], embeddings=[[0.0, 0.0, 5.0], [0.2, 0.2, 0.2]]))
    s("get after add existing+new", lambda: col.get(ids=["a", "fresh"], include=["embeddings"]))
    s("update unknown id", lambda: col.update(ids=["ghost"], embeddings=[[0.0, 0.0, 1.0]]))
    s("update unknown+known", lambda: col.update(ids=["ghost", "b"], embeddings=[[0.0, 0.0, 2.0], [0.0, 2.0, 0.0]], documents=["ghostdoc", "bee"]))
    s("get after update unknown+known", lambda: col.get(ids=["b", "ghost"]))
    s("update no embeddings doc only", lambda: side.update(ids=["a"], documents=["new a"]))
    s("update metadata None removes", lambda: col.update(ids=["a"], metadatas=[{"k": None, "z": 1}]))
    s("get after None update", lambda: col.get(ids=["a"]))
    s("update metadata all None", lambda: col.update(ids=["a"], metadatas=[{"z": None}]))
    s("get after all-None update", lambda: col.get(ids=["a"]))
    s("update metadata None on record without metadata", lambda: col.update(ids=["b"], metadatas=[{"q": None}]))
    s("get b after", lambda: col.get(ids=["b"]))
    s("update nothing but ids", lambda: col.update(ids=["a"]))
    s("update metadata {}", lambda: side.update(ids=["a"], metadatas=[{}]))
    s("upsert None metadata value new id", lambda: col.upsert(ids=["un"], embeddings=[[0.0, 1.0, 1.0]], metadatas=[{"k": None, "j": 1}]))
    s("get un", lambda: col.get(ids=["un"]))
    s("upsert existing keeps doc", lambda: col.upsert(ids=["a"], embeddings=[[1.0, 1.0, 1.0]]))
    s("get a after upsert no doc", lambda: col.get(ids=["a"], include=["documents", "metadatas", "embeddings"]))
    s("upsert existing merges metadata", lambda: col.upsert(ids=["un"], embeddings=[[0.0, 1.0, 1.0]], metadatas=[{"m": 2}]))
    s("get un after merge", lambda: col.get(ids=["un"]))
    s("upsert no embeddings", lambda: col.upsert(ids=["a"], documents=["x"]))
    s("update document None", lambda: side.update(ids=["a"], documents=[None]))
    s("get a after doc None", lambda: side.get(ids=["a"]))
    s("side snapshot", lambda: side.get(include=["documents", "metadatas", "embeddings"]))
    s("side huge int filter", lambda: side.get(where={"k": {"$gt": 2**62}}))
    s("delete no args", lambda: col.delete())
    s("delete ids empty", lambda: col.delete(ids=[]))
    s("delete unknown id", lambda: col.delete(ids=["ghost"]))
    s("delete where empty", lambda: col.delete(where={}))
    s("delete by where", lambda: col.delete(where={"j": 1}))
    s("delete ids+where mismatch", lambda: col.delete(ids=["fresh"], where={"k": 1}))
    s("count after deletes", lambda: col.count())
    s("ids after deletes", lambda: col.get(include=[])["ids"])
    s("re-add deleted id", lambda: col.add(ids=["un"], embeddings=[[0.3, 0.3, 0.3]], documents=["back"]))
    s("get re-added", lambda: col.get(ids=["un"]))
    s("ids order after re-add", lambda: col.get(include=[])["ids"])
    # dimension of an emptied collection
    empty = s("create c-dim", lambda: b.create("c-dim"))
    if empty is not None:
        s("dim add 2", lambda: empty.add(ids=["x"], embeddings=[[1.0, 2.0]]))
        s("dim delete all", lambda: empty.delete(ids=["x"]))
        s("dim add 3 after emptied", lambda: empty.add(ids=["y"], embeddings=[[1.0, 2.0, 3.0]]))
        s("dim query empty collection", lambda: b.create("c-empty").query(query_embeddings=[[1.0]], n_results=3))
        s("dim get empty collection", lambda: b.get("c-empty").get())
        s("dim peek empty", lambda: b.get("c-empty").peek())
        s("update on empty no dim", lambda: b.get("c-empty").update(ids=["q"], documents=["d"]))


def spaces_scenario(b: Backend, r: Recorder, rng: random.Random) -> None:
    s = r.step
    data = [vec(rng, 4) for _ in range(8)]
    q = [vec(rng, 4) for _ in range(2)]
    ids = [f"v{i}" for i in range(8)]
    for label, kw in [("default", {}), ("cfg cosine", {"configuration": {"hnsw": {"space": "cosine"}}}),
                      ("cfg ip", {"configuration": {"hnsw": {"space": "ip"}}}),
                      ("md cosine", {"metadata": {"hnsw:space": "cosine"}}), ("md ip", {"metadata": {"hnsw:space": "ip"}}),
                      ("cfg l2", {"configuration": {"hnsw": {"space": "l2"}}})]:
        name = "sp-" + label.replace(" ", "-")
        col = s(f"space {label} create", lambda name=name, kw=kw: b.create(name, **kw))
        if col is None:
            continue
        s(f"space {label} add", lambda col=col: col.add(ids=ids, embeddings=data))
        s(f"space {label} query", lambda col=col: col.query(query_embeddings=q, n_results=4,
                                                           include=["distances", "embeddings"]))
        s(f"space {label} reget config", lambda name=name: norm_collection(b.get(name)))


def random_scenario(b: Backend, r: Recorder, rng: random.Random, steps: int) -> None:
    s = r.step
    dim = rng.randint(2, 5)
    col = s("rand create", lambda: b.create("rand-col"))
    if col is None:
        return
    next_id = [0]

    def new_ids(n: int) -> list[str]:
        out = [f"id{next_id[0] + i}" for i in range(n)]
        next_id[0] += n
        return out

    def known(n: int) -> list[str]:
        pool = [f"id{i}" for i in range(max(next_id[0], 1))] + ["ghost"]
        return rng.sample(pool, min(n, len(pool)))

    def records(ids: list[str]) -> dict:
        return {"ids": ids, "embeddings": [vec(rng, dim) for _ in ids],
                "documents": [rng.choice(WORDS + [None]) for _ in ids],
                "metadatas": [rand_metadata(rng) for _ in ids]}

    first = records(new_ids(12))
    s("rand add initial " + json.dumps(first, sort_keys=True)[:200], lambda: col.add(**first))
    for i in range(steps):
        op = rng.choice(["get", "get", "query", "query", "query", "count", "add", "upsert", "update",
                         "delete", "peek", "getdoc", "querydoc"])
        if op == "get":
            kw: dict[str, Any] = {"where": rand_where(rng)}
            if rng.random() < 0.3:
                kw["limit"] = rng.randint(1, 6)
            if rng.random() < 0.3:
                kw["offset"] = rng.randint(0, 6)
            if rng.random() < 0.2:
                kw["ids"] = known(4)
            kw["include"] = rand_include(rng, False)
            s(f"r{i} get " + json.dumps(kw, sort_keys=True), lambda kw=kw: col.get(**kw))
        elif op == "getdoc":
            kw = {"where_document": rand_where_document(rng), "include": ["documents"]}
            if rng.random() < 0.3:
                kw["where"] = rand_where(rng)
            s(f"r{i} getdoc " + json.dumps(kw, sort_keys=True), lambda kw=kw: col.get(**kw))
        elif op in ("query", "querydoc"):
            kw = {"query_embeddings": [vec(rng, dim) for _ in range(rng.randint(1, 2))],
                  "n_results": rng.randint(1, 20), "include": rand_include(rng, True)}
            if op == "query" and rng.random() < 0.6:
                kw["where"] = rand_where(rng)
            if op == "querydoc":
                kw["where_document"] = rand_where_document(rng)
            s(f"r{i} {op} " + json.dumps(kw, sort_keys=True), lambda kw=kw: col.query(**kw))
        elif op == "count":
            s(f"r{i} count", lambda: col.count())
        elif op == "peek":
            n = rng.randint(1, 5)
            s(f"r{i} peek {n}", lambda n=n: col.peek(n))
        elif op in ("add", "upsert"):
            ids = new_ids(rng.randint(1, 3)) + (known(rng.randint(0, 2)) if rng.random() < 0.5 else [])
            ids = list(dict.fromkeys(ids))
            rec = records(ids)
            if op == "upsert" and rng.random() < 0.4:
                rec["metadatas"] = [{k: (None if rng.random() < 0.5 else v) for k, v in (m or {"i": 1}).items()}
                                    for m in rec["metadatas"]]
            fn = col.add if op == "add" else col.upsert
            s(f"r{i} {op} " + json.dumps(rec, sort_keys=True), lambda fn=fn, rec=rec: fn(**rec))
        elif op == "update":
            ids = list(dict.fromkeys(known(rng.randint(1, 3))))
            rec: dict[str, Any] = {"ids": ids}
            if rng.random() < 0.5:
                rec["embeddings"] = [vec(rng, dim) for _ in ids]
            if rng.random() < 0.5:
                rec["documents"] = [rng.choice(WORDS) for _ in ids]
                # chromadb re-embeds documents sent without embeddings (its default embedding
                # function, which needs the network); always send vectors with documents
                rec["embeddings"] = [vec(rng, dim) for _ in ids]
            if rng.random() < 0.7:
                rec["metadatas"] = [{"i": rng.randint(0, 5), "s": None, "tags": ["red"]} if rng.random() < 0.5
                                    else rand_metadata(rng) or {"f": 9.5} for _ in ids]
            s(f"r{i} update " + json.dumps(rec, sort_keys=True), lambda rec=rec: col.update(**rec))
        elif op == "delete":
            kw = {"ids": known(2)} if rng.random() < 0.5 else {"where": rand_where(rng)}
            s(f"r{i} delete " + json.dumps(kw, sort_keys=True), lambda kw=kw: col.delete(**kw))
        if rng.random() < 0.15:  # snapshot: the whole state must agree
            s(f"r{i} snapshot", lambda: col.get(include=["documents", "metadatas", "embeddings"]))
    s("rand final snapshot", lambda: col.get(include=["documents", "metadatas", "embeddings"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["chroma", "segmentdb"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--target", default=None, help="segmentdb gateway HOST:PORT")
    parser.add_argument("--port-file", default="/tmp/diff/port.json")
    parser.add_argument("--random-only", action="store_true", help="skip the fixed scenarios")
    parser.add_argument("--avoid-known", action="store_true",
                        help="skip filter operands that hit a known difference, to find new ones")
    args = parser.parse_args(argv)
    global AVOID_KNOWN
    AVOID_KNOWN = args.avoid_known
    rng = random.Random(args.seed)
    backend = Backend(args.backend, args)
    recorder = Recorder()
    try:
        if not args.random_only:
            collections_scenario(backend, recorder)
            bad_input_scenario(backend, recorder)
        spaces_scenario(backend, recorder, rng)
        random_scenario(backend, recorder, rng, args.steps)
    finally:
        backend.close()
    with open(args.out, "w") as f:
        json.dump({"backend": args.backend, "seed": args.seed, "steps": recorder.steps}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
