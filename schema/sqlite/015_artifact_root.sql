-- 015_artifact_root: the registry records where "auto" puts its large artifacts (the
-- JuiceFS model: `juicefs format` records the storage in the metadata engine and every
-- `mount` reads it from there). `deardiary init postgresql://...` writes it: the
-- configured artifacts.filesystem.root, else a directory it makes on its machine
-- ($XDG_DATA_HOME/deardiary/artifacts/<registry uuid>), holding a marker file
-- `.deardiary-registry` with the registry's uuid. A process uses the recorded root only
-- when it sees that marker (a node that does not mount the shared root keeps every
-- artifact inline rather than writing a second tree on its own disk; docs/CONFIGURATION.md
-- "Where artifacts go"). NULL: none recorded (a SQLite registry keeps its large artifacts
-- beside its file and records nothing). One logical schema on both engines.
ALTER TABLE registry ADD COLUMN artifact_root TEXT CHECK (artifact_root IS NULL OR
                                                         artifact_root LIKE '/%');
