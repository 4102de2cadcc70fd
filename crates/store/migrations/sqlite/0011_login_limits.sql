-- Usernames are unique whatever their case: 'ADMIN' is 'admin'.
CREATE UNIQUE INDEX users_username_nocase ON users(username COLLATE NOCASE);

-- The failed-login budget of each client address (GCRA: its theoretical arrival time). A row
-- whose tat is in the past is a full budget and may be dropped.
CREATE TABLE login_sources (
    address     TEXT PRIMARY KEY,
    tat         TEXT NOT NULL
);
CREATE INDEX login_sources_tat ON login_sources(tat);
