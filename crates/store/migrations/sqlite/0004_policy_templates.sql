CREATE TABLE policy_templates (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    record_json  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
