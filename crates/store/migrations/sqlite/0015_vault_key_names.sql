-- Vault keys as CipherTrust keeps them: a name may be used by several keys (Thales' Terraform
-- provider makes two keys of one name in its own example), each key has a description and
-- labels, and an EC key its curve. The table is rebuilt without the UNIQUE on name; the
-- trigger of migration 0007 that refers to it is dropped and made again around the rebuild,
-- and the one on the table itself is made again.
DROP TRIGGER IF EXISTS import_intents_vault_key_exists;
DROP TRIGGER IF EXISTS local_keys_kept_while_importing;
CREATE TABLE local_keys_new (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    algorithm        TEXT NOT NULL,
    size             INTEGER NOT NULL,
    material_sealed  BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    labels_json      TEXT NOT NULL DEFAULT '{}',
    curve            TEXT NOT NULL DEFAULT ''
);
INSERT INTO local_keys_new (id, name, algorithm, size, material_sealed, created_at, updated_at)
    SELECT id, name, algorithm, size, material_sealed, created_at, updated_at FROM local_keys;
DROP TABLE local_keys;
ALTER TABLE local_keys_new RENAME TO local_keys;
CREATE INDEX local_keys_name ON local_keys(name);

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
