-- An import's material may be a key in the HSM (local_key_id `hsm:<token label>:<key label>`),
-- not only a row of local_keys. The table is rebuilt without its foreign key; two triggers keep
-- what the key gave for vault keys: an intent names an existing vault key, and a vault key
-- named by an open intent cannot be deleted (same error as the foreign key's).
CREATE TABLE import_intents_new (
    id             TEXT PRIMARY KEY,
    key_record_id  TEXT NOT NULL,
    local_key_id   TEXT NOT NULL,
    valid_to       TEXT,
    created_at     TEXT NOT NULL
);
INSERT INTO import_intents_new (id, key_record_id, local_key_id, valid_to, created_at)
    SELECT id, key_record_id, local_key_id, valid_to, created_at FROM import_intents;
DROP TABLE import_intents;
ALTER TABLE import_intents_new RENAME TO import_intents;

CREATE TRIGGER import_intents_vault_key_exists BEFORE INSERT ON import_intents
WHEN substr(NEW.local_key_id, 1, 4) <> 'hsm:'
    AND NOT EXISTS (SELECT 1 FROM local_keys WHERE id = NEW.local_key_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed');
END;

CREATE TRIGGER local_keys_kept_while_importing BEFORE DELETE ON local_keys
WHEN EXISTS (SELECT 1 FROM import_intents WHERE local_key_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed');
END;
