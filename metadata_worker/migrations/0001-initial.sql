-- segmentdb schema, version 1. Table names follow Chroma's where the concept is the same,
-- so `sqlite3 chroma.sqlite3 "SELECT * FROM embedding_metadata LIMIT 10;"` shows metadata.
-- Forward-only: never edit this file once released; add 0002-....sql instead
-- (the migrator checks its sha256 on every start).

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE databases (
    id TEXT PRIMARY KEY,                       -- UUID
    name TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (tenant_id, name)
);

-- Listing order is creation order: rowid only grows for new rows.
CREATE TABLE collections (
    id TEXT PRIMARY KEY,                       -- UUID
    name TEXT NOT NULL,
    database_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE,
    dimension INTEGER NULL,                    -- fixed by the first write carrying vectors
    config_json TEXT NOT NULL,                 -- fully resolved HNSW configuration
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (database_id, name)
);

CREATE TABLE collection_metadata (
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    string_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER,
    PRIMARY KEY (collection_id, key)
);

-- Two rows per collection: scope METADATA (this file) and scope VECTOR (index/<id>/).
CREATE TABLE segments (
    id TEXT PRIMARY KEY,                       -- UUID
    type TEXT NOT NULL,
    scope TEXT NOT NULL,
    collection TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE
);
CREATE INDEX segments_collection ON segments (collection);

-- A record. `id` is its HNSW label: AUTOINCREMENT so a label is never reused.
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,  -- METADATA segment
    embedding_id TEXT NOT NULL,                -- the user's id
    seq_id INTEGER,                            -- log sequence of the last vector write
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    document TEXT NULL,
    vector BLOB,                               -- little-endian float32
    UNIQUE (segment_id, embedding_id)
);
-- (segment_id, rowid) order: a collection's records in insertion order without a sort.
CREATE INDEX embeddings_segment ON embeddings (segment_id);

-- Chroma's layout: one row per scalar key.
CREATE TABLE embedding_metadata (
    id INTEGER NOT NULL REFERENCES embeddings(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    string_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER,
    PRIMARY KEY (id, key)
);
CREATE INDEX embedding_metadata_string ON embedding_metadata (key, string_value);
CREATE INDEX embedding_metadata_int ON embedding_metadata (key, int_value);
CREATE INDEX embedding_metadata_float ON embedding_metadata (key, float_value);
CREATE INDEX embedding_metadata_bool ON embedding_metadata (key, bool_value);

-- One row per element of a list value (a key lives in exactly one of the two tables).
CREATE TABLE embedding_metadata_array (
    id INTEGER NOT NULL REFERENCES embeddings(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    string_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER,
    PRIMARY KEY (id, key, position)
);
CREATE INDEX embedding_metadata_array_string ON embedding_metadata_array (key, string_value);
CREATE INDEX embedding_metadata_array_int ON embedding_metadata_array (key, int_value);
CREATE INDEX embedding_metadata_array_float ON embedding_metadata_array (key, float_value);
CREATE INDEX embedding_metadata_array_bool ON embedding_metadata_array (key, bool_value);

-- Full-text index over documents, rowid = embeddings.id. Maintained by the store in the same
-- transaction as the records (not by triggers: FTS5 flushes at every trigger statement,
-- which made a 50,000-record insert ~8x slower). A regular FTS table, so deleting a row
-- needs only its rowid. Case-sensitive, like chromadb's $contains.
CREATE VIRTUAL TABLE embedding_fulltext_search USING fts5 (
    document,
    tokenize = 'trigram case_sensitive 1'
);

-- The write-ahead log vector workers replay. operation 1 = UPSERT, 2 = DELETE.
CREATE TABLE embeddings_log (
    seq_id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id TEXT NOT NULL,
    operation INTEGER NOT NULL CHECK (operation IN (1, 2)),
    label INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX embeddings_log_collection ON embeddings_log (collection_id, seq_id);

INSERT INTO tenants (id) VALUES ('default_tenant');
INSERT INTO databases (id, name, tenant_id)
VALUES ('00000000-0000-0000-0000-000000000000', 'default_database', 'default_tenant');
