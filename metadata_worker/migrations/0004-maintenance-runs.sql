-- segmentdb schema, version 4: maintenance bookkeeping.
-- Forward-only: never edit this file once released; add 0005-....sql instead.

-- One row per maintenance run on this data folder, written in the run's own transaction
-- when it finishes, so an operator can ask "when was this folder last vacuumed, what did it
-- reclaim, which backup was taken before the last upgrade" with plain SQL:
--   sqlite3 chroma.sqlite3 "SELECT * FROM maintenance_runs ORDER BY id DESC LIMIT 5;"
-- kind: 'vacuum' (segmentdb vacuum / AdminService.Vacuum), 'migrate-backup' (the copy of
-- chroma.sqlite3 taken before pending migrations ran). Other kinds may be added without a
-- migration, so no CHECK lists them. Times are ISO 8601 UTC; bytes count chroma.sqlite3
-- plus its -wal file (and, for a vacuum, the index folders); details is a JSON object
-- whose keys depend on the kind (documented in docs/internals.md).
CREATE TABLE maintenance_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind <> ''),
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    bytes_before INTEGER NOT NULL CHECK (bytes_before >= 0),
    bytes_after INTEGER NOT NULL CHECK (bytes_after >= 0),
    details_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX maintenance_runs_kind ON maintenance_runs (kind, id);

-- The segmentdb release that applied each migration (NULL for rows written before this
-- column existed), so a database refused as "from a newer segmentdb" can say which one.
ALTER TABLE migrations ADD COLUMN segmentdb_version TEXT;
