-- Keys in Keyward's own vault; the material is sealed (AES-256-GCM, bound to the row).
CREATE TABLE local_keys (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    algorithm        TEXT NOT NULL,
    size             INTEGER NOT NULL,
    material_sealed  BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- Imports in progress: written before the first AWS call, removed after the last.
CREATE TABLE import_intents (
    id             TEXT PRIMARY KEY,
    key_record_id  TEXT NOT NULL,
    local_key_id   TEXT NOT NULL REFERENCES local_keys(id),
    valid_to       TEXT,
    created_at     TEXT NOT NULL
);

ALTER TABLE aws_keys ADD COLUMN local_key_id TEXT;
CREATE INDEX aws_keys_local_key ON aws_keys(local_key_id);
