CREATE TABLE sync_jobs (
    id                    TEXT PRIMARY KEY,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    completed_at          TEXT,
    overall_status        TEXT NOT NULL,
    detailed_status_json  TEXT NOT NULL,
    kms_json              TEXT NOT NULL,
    regions_json          TEXT NOT NULL,
    synchronize_all       INTEGER NOT NULL,
    abort                 INTEGER NOT NULL DEFAULT 0,
    created_by            TEXT NOT NULL,
    keys_seen             INTEGER NOT NULL DEFAULT 0,
    keys_added            INTEGER NOT NULL DEFAULT 0,
    keys_gone             INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sync_jobs_status ON sync_jobs(overall_status);
