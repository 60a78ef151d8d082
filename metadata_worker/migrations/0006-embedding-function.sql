-- segmentdb schema, version 6: each collection records its embedding function (issue 7).
-- Forward-only: never edit this file once released; add 0007-....sql instead.

-- Chroma 1.x's JSON for it, canonical (segmentdb.embedding_functions.check):
-- {"type": "known", "name": "default", "config": {}} or {"type": "legacy"}. NULL for
-- collections created before this migration: they recorded no function, every record in
-- them came with its own vector from an unknown model, so nothing is embedded for them on
-- the server (as legacy) until ModifyCollection sets one.
ALTER TABLE collections ADD COLUMN embedding_function_json TEXT NULL;
