"""`segmentdb import-chroma`: read a Chroma persistent folder (0.5.x and 1.x), write a segmentdb one.

- `chroma_sqlite`   reads Chroma's chroma.sqlite3 (read-only): collections, records, the queue
- `hnsw_files`      parses the hnswlib files of a vector segment with numpy
- `safe_pickle`     reads index_metadata.pickle without running code
- `replay`          merges index files + embeddings_queue + metadata segment into final records
- `hnsw_settings`   the HNSW parameters Chroma actually used, as segmentdb configuration
- `writer`          writes the segmentdb folder through metadata_worker's store code

docs/chroma-import.md describes the formats and the decisions.
"""


class ChromaFormatError(Exception):
    """The folder is not a Chroma folder this importer understands, or it is damaged.
    The message names the file and what is wrong."""

    @property
    def message(self) -> str:
        return str(self)
