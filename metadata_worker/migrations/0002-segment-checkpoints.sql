-- segmentdb schema, version 2: persisted checkpoints and log purge.
-- Forward-only: never edit this file once released; add 0003-....sql instead.

-- The last log sequence number each vector segment has saved to its folder, as reported by
-- the vector worker after the save (ReportPersisted). The newest report wins even when it is
-- lower than the stored one: an older save may have overwritten the folder, and the row
-- describes the folder as it is now.
CREATE TABLE segment_checkpoints (
    segment_id TEXT PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,   -- VECTOR segment
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    persisted_sequence INTEGER NOT NULL CHECK (persisted_sequence >= 0),
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX segment_checkpoints_collection ON segment_checkpoints (collection_id);

-- The collection's log entries with seq_id <= log_purged_through have been deleted. Never
-- decreases. The collection's log position is MAX(its last remaining entry, this), so purging
-- never moves a position backwards. The purge itself is a range delete on the existing
-- embeddings_log_collection (collection_id, seq_id) index.
ALTER TABLE collections ADD COLUMN log_purged_through INTEGER NOT NULL DEFAULT 0;
