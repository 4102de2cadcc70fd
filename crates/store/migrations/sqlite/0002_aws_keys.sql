-- Columns of aws_keys that the key list filters and sorts on; record_json holds the record.
ALTER TABLE aws_keys ADD COLUMN cloud_name TEXT NOT NULL DEFAULT 'aws';
ALTER TABLE aws_keys ADD COLUMN key_state TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN key_usage TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN key_spec TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aws_keys ADD COLUMN gone INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aws_keys ADD COLUMN key_material_origin TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN multi_region INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aws_keys ADD COLUMN multi_region_key_type TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN aliases_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE aws_keys ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE aws_keys ADD COLUMN job_config_id TEXT;
ALTER TABLE aws_keys ADD COLUMN synced_at TEXT NOT NULL DEFAULT '';
ALTER TABLE aws_keys ADD COLUMN valid_to TEXT;
CREATE INDEX aws_keys_key_id ON aws_keys(key_id);
CREATE INDEX aws_keys_arn ON aws_keys(arn);
