-- The key list at scale (100,000 records): every documented filter and the default order
-- (created_at, id) answer from an index, so a page at any skip and its total walk index
-- entries, never the records themselves.
CREATE INDEX aws_keys_page ON aws_keys (created_at, id);
CREATE INDEX aws_keys_by_kms ON aws_keys (kms_id, created_at, id);
CREATE INDEX aws_keys_by_region ON aws_keys (region, created_at, id);
CREATE INDEX aws_keys_by_cloud ON aws_keys (cloud_name, created_at, id);
CREATE INDEX aws_keys_by_origin ON aws_keys (origin, created_at, id);
CREATE INDEX aws_keys_by_state ON aws_keys (key_state, created_at, id);
CREATE INDEX aws_keys_by_usage ON aws_keys (key_usage, created_at, id);
CREATE INDEX aws_keys_by_spec ON aws_keys (key_spec, created_at, id);
CREATE INDEX aws_keys_by_enabled ON aws_keys (enabled, created_at, id);
CREATE INDEX aws_keys_by_gone ON aws_keys (gone, created_at, id);
CREATE INDEX aws_keys_by_material ON aws_keys (key_material_origin, created_at, id);
CREATE INDEX aws_keys_by_multi_region ON aws_keys (multi_region, created_at, id);
CREATE INDEX aws_keys_by_mrk_type ON aws_keys (multi_region_key_type, created_at, id);
CREATE INDEX aws_keys_by_job_config ON aws_keys (job_config_id, created_at, id);
CREATE INDEX aws_keys_by_valid_to ON aws_keys (valid_to);

-- The aliases and tags of each record, one row each, kept by triggers from aliases_json and
-- tags_json (whatever writes the record), for the alias and tags filters.
CREATE TABLE aws_key_aliases (
    alias          TEXT NOT NULL,
    key_record_id  TEXT NOT NULL,
    PRIMARY KEY (alias, key_record_id)
) WITHOUT ROWID;
CREATE INDEX aws_key_aliases_record ON aws_key_aliases (key_record_id);

CREATE TABLE aws_key_tags (
    tag_key        TEXT NOT NULL,
    tag_value      TEXT NOT NULL,
    key_record_id  TEXT NOT NULL,
    PRIMARY KEY (tag_key, tag_value, key_record_id)
) WITHOUT ROWID;
CREATE INDEX aws_key_tags_record ON aws_key_tags (key_record_id);

INSERT OR IGNORE INTO aws_key_aliases (alias, key_record_id)
    SELECT json_each.value, aws_keys.id FROM aws_keys, json_each(aws_keys.aliases_json);
INSERT OR IGNORE INTO aws_key_tags (tag_key, tag_value, key_record_id)
    SELECT json_each.key, json_each.value, aws_keys.id FROM aws_keys, json_each(aws_keys.tags_json);

CREATE TRIGGER aws_keys_lists_on_insert AFTER INSERT ON aws_keys
BEGIN
    INSERT OR IGNORE INTO aws_key_aliases (alias, key_record_id)
        SELECT value, NEW.id FROM json_each(NEW.aliases_json);
    INSERT OR IGNORE INTO aws_key_tags (tag_key, tag_value, key_record_id)
        SELECT key, value, NEW.id FROM json_each(NEW.tags_json);
END;

CREATE TRIGGER aws_keys_lists_on_update AFTER UPDATE OF id, aliases_json, tags_json ON aws_keys
WHEN OLD.id IS NOT NEW.id OR OLD.aliases_json IS NOT NEW.aliases_json
    OR OLD.tags_json IS NOT NEW.tags_json
BEGIN
    DELETE FROM aws_key_aliases WHERE key_record_id = OLD.id;
    DELETE FROM aws_key_tags WHERE key_record_id = OLD.id;
    INSERT OR IGNORE INTO aws_key_aliases (alias, key_record_id)
        SELECT value, NEW.id FROM json_each(NEW.aliases_json);
    INSERT OR IGNORE INTO aws_key_tags (tag_key, tag_value, key_record_id)
        SELECT key, value, NEW.id FROM json_each(NEW.tags_json);
END;

CREATE TRIGGER aws_keys_lists_on_delete AFTER DELETE ON aws_keys
BEGIN
    DELETE FROM aws_key_aliases WHERE key_record_id = OLD.id;
    DELETE FROM aws_key_tags WHERE key_record_id = OLD.id;
END;
