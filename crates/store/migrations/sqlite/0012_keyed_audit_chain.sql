-- The audit chain becomes keyed: each record's `hash` is an HMAC-SHA256 under a key derived
-- from the root key (it was a plain SHA-256, which anyone who can write the database can
-- recompute). SQL does not have the root key, so a database that already holds records is
-- only marked here; the server re-keys the chain at its next start (SqliteStore::
-- rekey_unkeyed_chain): it checks the old SHA-256 chain, re-MACs every record in one
-- transaction, records `audit.rekey` in the trail and removes this mark.
CREATE TABLE audit_rekey_pending (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    records  INTEGER NOT NULL
);

INSERT INTO audit_rekey_pending (one, records)
    SELECT 1, COUNT(*) FROM audit_records HAVING COUNT(*) > 0;
