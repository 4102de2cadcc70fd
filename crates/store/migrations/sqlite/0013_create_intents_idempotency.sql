-- The create journal: a row per key creation (create, replicate-key, upload-key's create)
-- written before CreateKey / ReplicateKey and removed with the new key's record in one
-- transaction. The AWS key carries the tag keyward_create_id=<id> from its creation on, so
-- start-up recovery finds what a crash left in AWS.
CREATE TABLE create_intents (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL,
    intent_json  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX create_intents_request ON create_intents (request_id);

-- Idempotency-Key: the first answer to a (user, key), replayed to retries until it expires.
-- status and response_body are NULL while the first request runs (it holds lease_until).
CREATE TABLE idempotency_keys (
    user_id        TEXT NOT NULL,
    idem_key       TEXT NOT NULL,
    route          TEXT NOT NULL,
    body_digest    TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    status         INTEGER,
    response_body  TEXT,
    lease_until    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
