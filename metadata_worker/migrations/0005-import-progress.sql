-- segmentdb schema, version 5: resumable imports (TransferService.ImportRecords).
-- Forward-only: never edit this file once released; add 0006-....sql instead.
-- Written after 0004 (another change of issue 5); it uses nothing 0004 adds.

-- How far each import has got: the records (and chunks) committed under a client-chosen
-- import id. Updated in the SAME transaction as each chunk's records, so a chunk is either
-- written and counted or neither: a resumed import continues at committed_records and a
-- chunk sent again (its ack was lost) is recognised and not written twice. Rows go with
-- their collection.
CREATE TABLE import_progress (
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    import_id TEXT NOT NULL,
    committed_records INTEGER NOT NULL CHECK (committed_records >= 0),
    committed_chunks INTEGER NOT NULL CHECK (committed_chunks >= 0),
    started_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (collection_id, import_id)
) WITHOUT ROWID;
