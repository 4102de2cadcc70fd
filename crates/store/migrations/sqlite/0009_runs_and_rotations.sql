-- Scheduler job runs (the run as JSON). A scheduled run's (job_config_id, scheduled_for) is
-- unique, so among nodes sharing this database exactly one claims it (manual runs have no
-- scheduled time; NULLs do not collide). The lease says which node runs it, until when.
CREATE TABLE job_runs (
    id             TEXT PRIMARY KEY,
    job_config_id  TEXT NOT NULL,
    scheduled_for  TEXT,
    status         TEXT NOT NULL,
    record_json    TEXT NOT NULL,
    lease_owner    TEXT NOT NULL,
    lease_until    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (job_config_id, scheduled_for)
);
CREATE INDEX job_runs_status ON job_runs (status, lease_until);

-- Key rotations: the journal of a rotation in progress, then its history (the rotation as
-- JSON). At most one rotation of a key is in progress, and a key is replaced by a new key at
-- most once (both enforced here, so two nodes cannot make two successors).
CREATE TABLE key_rotations (
    id                 TEXT PRIMARY KEY,
    key_record_id      TEXT NOT NULL,
    new_key_record_id  TEXT,
    rotation_type      TEXT NOT NULL,
    status             TEXT NOT NULL,
    record_json        TEXT NOT NULL,
    lease_owner        TEXT NOT NULL,
    lease_until        TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE UNIQUE INDEX key_rotations_one_in_progress ON key_rotations (key_record_id)
    WHERE status = 'in_progress';
CREATE UNIQUE INDEX key_rotations_one_successor ON key_rotations (key_record_id)
    WHERE status = 'completed' AND rotation_type = 'new_key';
CREATE INDEX key_rotations_new ON key_rotations (new_key_record_id);
CREATE INDEX key_rotations_status ON key_rotations (status, lease_until);
