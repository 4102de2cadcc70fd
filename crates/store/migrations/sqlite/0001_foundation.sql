CREATE TABLE system_secrets (
    name        TEXT PRIMARY KEY,
    sealed      BLOB NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    groups_json     TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_login      TEXT,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    last_failed_at  TEXT,
    locked_until    TEXT
);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest      TEXT NOT NULL UNIQUE,
    client_id   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE aws_connections (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL UNIQUE,
    description                 TEXT NOT NULL,
    access_key_id               TEXT NOT NULL,
    secret_sealed               BLOB,
    assume_role_arn             TEXT NOT NULL,
    assume_role_external_id     TEXT NOT NULL,
    aws_region                  TEXT NOT NULL,
    aws_sts_regional_endpoints  TEXT NOT NULL,
    cloud_name                  TEXT NOT NULL,
    endpoint_url                TEXT NOT NULL,
    labels_json                 TEXT NOT NULL,
    meta_json                   TEXT NOT NULL,
    products_json               TEXT NOT NULL,
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL,
    last_connection_ok          INTEGER,
    last_connection_error       TEXT NOT NULL,
    last_connection_at          TEXT
);

CREATE TABLE kms_containers (
    id                       TEXT PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE,
    account_id               TEXT NOT NULL,
    connection_id            TEXT NOT NULL REFERENCES aws_connections(id),
    regions_json             TEXT NOT NULL,
    assume_role_arn          TEXT NOT NULL,
    assume_role_external_id  TEXT NOT NULL,
    status                   TEXT NOT NULL,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL
);

-- AWS key records; the lifecycle issue adds their columns. Here so that a KMS container that
-- still holds keys cannot be deleted.
CREATE TABLE aws_keys (
    id          TEXT PRIMARY KEY,
    kms_id      TEXT NOT NULL REFERENCES kms_containers(id),
    region      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    arn         TEXT NOT NULL,
    record_json TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (kms_id, region, key_id)
);

CREATE TABLE audit_records (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

-- The newest record's seq and hash, written with every append, so that cutting records off
-- the end of the chain is detected too.
CREATE TABLE audit_head (
    one   INTEGER PRIMARY KEY CHECK (one = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
