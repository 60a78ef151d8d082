"""The vector worker: serves HNSW segments (hnswlib), loaded lazily, rebuilt from the
metadata worker's log and scans. It never touches SQLite; its folders under
`<data>/index/` are a derived cache that is safe to delete.
"""
