-- A key can be attached only to a job config that exists (checked in the writing transaction,
-- so a config deleted between enable-rotation-job's read and its write cannot be referenced).
CREATE TRIGGER aws_keys_job_config_exists_on_update BEFORE UPDATE OF job_config_id ON aws_keys
WHEN NEW.job_config_id IS NOT NULL
    AND NEW.job_config_id IS NOT OLD.job_config_id
    AND NOT EXISTS (SELECT 1 FROM job_configs WHERE id = NEW.job_config_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed');
END;

CREATE TRIGGER aws_keys_job_config_exists_on_insert BEFORE INSERT ON aws_keys
WHEN NEW.job_config_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM job_configs WHERE id = NEW.job_config_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed');
END;
