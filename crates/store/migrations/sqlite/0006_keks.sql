-- Key-encryption keys made by rotation (KEK 1 is derived from the root key and not stored),
-- each sealed under a wrapping key derived from the root key. One is active.
CREATE TABLE keks (
    id          INTEGER PRIMARY KEY,
    sealed      BLOB NOT NULL,
    active      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);
