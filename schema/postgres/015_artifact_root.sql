-- 015_artifact_root (PostgreSQL: schema/sqlite/015_artifact_root.sql in this engine's
-- types; the reasons are written there): the registry's recorded artifact root, an
-- absolute directory, NULL when none is recorded.
ALTER TABLE registry ADD COLUMN artifact_root TEXT COLLATE "C" CHECK (artifact_root IS NULL
                                                                   OR artifact_root LIKE '/%');
