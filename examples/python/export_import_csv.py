"""The seed's "5. Python Example: Exporting and Importing Data", run against segmentdb.

The code below the preamble is the seed's, verbatim, except its first line: `import
segmentdb as chromadb` instead of `import chromadb`. Its import step adds ids, documents and
metadatas with NO embeddings: the new instance's gateway embeds the documents with the
collection's function (all-MiniLM-L6-v2, Chroma's default), so this needs the embeddings
extra where the service runs (`pip install 'segmentdb[embeddings]'`) and pandas.

Run it in an empty folder: `python examples/python/export_import_csv.py`. It leaves
./base_db, ./backup_db (segmentdb data folders) and my_export.csv there; then e.g.

    client = segmentdb.PersistentClient(path="./backup_db")
    client.get_collection("restored_data").query(query_texts=["..."], n_results=1)
"""

import segmentdb as chromadb
import pandas as pd

# -- Preamble (not in the seed): the seed starts from a ./base_db that already holds a
# "my_data" collection. Make one from documents only (the server embeds them).
_base = chromadb.PersistentClient(path="./base_db")
_my_data = _base.get_or_create_collection("my_data")
if _my_data.count() == 0:
    _my_data.add(
        ids=["doc-sqlite", "doc-hnsw", "doc-backup", "doc-lazy", "doc-migrate"],
        documents=[
            "Every document, id and metadata tag is stored in a SQLite file.",
            "The vector index is an HNSW graph kept in binary files per collection.",
            "To back up the database, stop the program and copy the whole folder.",
            "A collection's index is only loaded into memory when it is first queried.",
            "Upgrading the library may migrate the storage format automatically.",
        ],
        metadatas=[{"topic": "sqlite"}, {"topic": "hnsw"}, {"topic": "backup"},
                   {"topic": "memory"}, {"topic": "versioning"}],
    )
# -- The seed's example from here on.

client = chromadb.PersistentClient(path="./base_db")
collection = client.get_collection("my_data")

# 1. Exporting to a DataFrame (CSV)
data = collection.get(
    include=['documents', 'metadatas', 'embeddings']
)

df = pd.DataFrame({
    "ids": data["ids"],
    "documents": data["documents"],
    "metadatas": data["metadatas"]
})
df.to_csv("my_export.csv", index=False)

# 2. Importing from CSV into a NEW instance
new_client = chromadb.PersistentClient(path="./backup_db")
new_coll = new_client.create_collection("restored_data")

new_coll.add(
    ids=df["ids"].tolist(),
    documents=df["documents"].tolist(),
    metadatas=df["metadatas"].tolist()
)
