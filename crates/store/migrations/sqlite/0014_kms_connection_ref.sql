-- The connection as the client named it when it made or moved the container (its id or its
-- name), echoed back in `connection`; '' for containers made before (they show the name).
ALTER TABLE kms_containers ADD COLUMN connection_ref TEXT NOT NULL DEFAULT '';
