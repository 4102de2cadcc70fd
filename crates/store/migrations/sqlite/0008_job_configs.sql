-- Scheduler job configs (the config as JSON; the name unique). Keys refer to a config
-- through aws_keys.job_config_id (migration 0002).
CREATE TABLE job_configs (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    operation    TEXT NOT NULL,
    record_json  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX aws_keys_job_config_id ON aws_keys (job_config_id);
