"""The metadata worker: the one process that owns `<data>/chroma.sqlite3`.

Tenants, databases, collections, records (ids, documents, metadata, vectors), the
write-ahead log and the full-text index, served as segmentdb.internal.v1.MetadataService.
Run it with `python -m metadata_worker --path DIR` (or `segmentdb metadata-worker`).
"""
