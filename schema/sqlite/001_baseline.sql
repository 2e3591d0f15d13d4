-- 001_baseline: every entity of the original DearDiary (seeds/001_types_and_internals.txt)
-- with the uniqueness rules of DESIGN.md §2, foreign keys, and an index for every lookup the
-- filesystem makes. Enums are CHECK-ed integers with the seed's values:
--   ExperimentStatus IN_PROGRESS=1 STOPPED=2 FINISHED=3
--   IterationStatus  RUNNING=1 SUCCEEDED=2 FAILED=3 KILLED=4
--   Stage            NO_STAGE=1 STAGING=2 PRODUCTION=3 ARCHIVED=4
-- Timestamps are TEXT, UTC ISO-8601 with milliseconds and 'Z'. An absent optional
-- timestamp is NULL (the original stored '').
-- Names that become directory names are checked by the store (UTF-8, no '/', no control
-- characters, not '.' or '..', 1..255 bytes); the CHECKs here are a last line of defence.

CREATE TABLE user (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    username      TEXT NOT NULL UNIQUE CHECK (username <> ''),
    password      TEXT NOT NULL CHECK (password <> ''),      -- bcrypt hash
    created_date  TEXT NOT NULL CHECK (created_date <> ''),
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1))
);

CREATE TABLE project (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE CHECK (name <> '' AND length(CAST(name AS BLOB)) <= 255),
    description   TEXT NOT NULL DEFAULT '',
    created_date  TEXT NOT NULL CHECK (created_date <> '')
);

CREATE TABLE user_permission (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES user(id),
    project_id         INTEGER NOT NULL REFERENCES project(id),
    create_permission  INTEGER NOT NULL DEFAULT 0 CHECK (create_permission IN (0, 1)),
    read_permission    INTEGER NOT NULL DEFAULT 1 CHECK (read_permission IN (0, 1)),
    update_permission  INTEGER NOT NULL DEFAULT 0 CHECK (update_permission IN (0, 1)),
    delete_permission  INTEGER NOT NULL DEFAULT 0 CHECK (delete_permission IN (0, 1)),
    UNIQUE (user_id, project_id)
);
CREATE INDEX user_permission_by_project ON user_permission(project_id);

CREATE TABLE experiment (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES project(id),
    status_id     INTEGER NOT NULL DEFAULT 1 CHECK (status_id IN (1, 2, 3)),
    name          TEXT NOT NULL CHECK (name <> '' AND length(CAST(name AS BLOB)) <= 255),
    description   TEXT NOT NULL DEFAULT '',
    created_date  TEXT NOT NULL CHECK (created_date <> ''),
    end_date      TEXT,
    UNIQUE (project_id, name)
);

CREATE TABLE iteration (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id        INTEGER NOT NULL REFERENCES experiment(id),
    notes                TEXT NOT NULL DEFAULT '',
    created_date         TEXT NOT NULL CHECK (created_date <> ''),
    end_date             TEXT,
    parent_iteration_id  INTEGER REFERENCES iteration(id) ON DELETE SET NULL,
    status_id            INTEGER NOT NULL DEFAULT 1 CHECK (status_id IN (1, 2, 3, 4)),
    error_message        TEXT NOT NULL DEFAULT '',
    julia_version        TEXT NOT NULL DEFAULT '',
    git_sha              TEXT NOT NULL DEFAULT '',
    git_dirty            INTEGER NOT NULL DEFAULT 0 CHECK (git_dirty IN (0, 1)),
    entrypoint           TEXT NOT NULL DEFAULT '',
    project_toml         TEXT NOT NULL DEFAULT '',
    manifest_toml        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX iteration_by_experiment ON iteration(experiment_id, id);
CREATE INDEX iteration_by_parent ON iteration(parent_iteration_id, id)
    WHERE parent_iteration_id IS NOT NULL;

-- Environment files captured with a snapshot beyond Project.toml and Manifest.toml
-- (requirements.txt, poetry.lock, ...): shown under env/ next to the snapshot columns.
CREATE TABLE iteration_file (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    name          TEXT NOT NULL CHECK (name <> ''),
    content       BLOB NOT NULL,
    UNIQUE (iteration_id, name)
);

CREATE TABLE parameter (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    key           TEXT NOT NULL CHECK (key <> ''),
    value         TEXT NOT NULL CHECK (value <> ''),
    UNIQUE (iteration_id, key)
);

-- Plain rowid ids (no AUTOINCREMENT): they are never exposed, and AUTOINCREMENT would
-- write sqlite_sequence on every append, the filesystem's hottest path.
CREATE TABLE metric (
    id            INTEGER PRIMARY KEY,
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    key           TEXT NOT NULL CHECK (key <> ''),
    value         REAL NOT NULL,
    step          INTEGER NOT NULL DEFAULT 0,
    recorded_at   TEXT NOT NULL CHECK (recorded_at <> '')
);
-- A series read in step order, and its max(step), without touching other series.
CREATE INDEX metric_by_series ON metric(iteration_id, key, step, id);

-- One row per (iteration, key): the latest point (greatest step, last written on ties),
-- the next default step, the point count and the length of the series' text form (so a
-- metric file's size is known without reading it), so listings and metrics.json never
-- scan metric history. Maintained by the store in the same transaction as the points.
-- Its id is the series' stable identity (the filesystem's inode for metrics/<key>).
CREATE TABLE metric_latest (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    key           TEXT NOT NULL CHECK (key <> ''),
    value         REAL NOT NULL,
    step          INTEGER NOT NULL,
    recorded_at   TEXT NOT NULL,
    max_step      INTEGER NOT NULL,
    point_count   INTEGER NOT NULL,
    text_bytes    INTEGER NOT NULL,
    UNIQUE (iteration_id, key)
);

CREATE TABLE resource (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id INTEGER NOT NULL REFERENCES experiment(id),
    name          TEXT NOT NULL CHECK (name <> '' AND length(CAST(name AS BLOB)) <= 255),
    description   TEXT NOT NULL DEFAULT '',
    data          BLOB,                                   -- inline backend only
    created_date  TEXT NOT NULL CHECK (created_date <> ''),
    updated_date  TEXT,
    backend       TEXT NOT NULL DEFAULT 'inline' CHECK (backend IN ('inline', 'filesystem', 's3')),
    uri           TEXT NOT NULL DEFAULT '',
    size_bytes    INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    content_hash  TEXT NOT NULL DEFAULT '',
    UNIQUE (experiment_id, name)
);

-- Artifact bytes whose row is gone: queued in the deleting transaction, removed from
-- their backend after it commits, so a crash between the two never loses track of them.
CREATE TABLE artifact_trash (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    backend       TEXT NOT NULL,
    uri           TEXT NOT NULL,
    queued_at     TEXT NOT NULL
);

CREATE TABLE tag (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    value  TEXT NOT NULL UNIQUE CHECK (value <> '')
);
CREATE TABLE project_tag (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES project(id),
    tag_id      INTEGER NOT NULL REFERENCES tag(id),
    UNIQUE (project_id, tag_id)
);
CREATE TABLE experiment_tag (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id  INTEGER NOT NULL REFERENCES experiment(id),
    tag_id         INTEGER NOT NULL REFERENCES tag(id),
    UNIQUE (experiment_id, tag_id)
);
CREATE TABLE iteration_tag (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    tag_id        INTEGER NOT NULL REFERENCES tag(id),
    UNIQUE (iteration_id, tag_id)
);
CREATE INDEX project_tag_by_tag ON project_tag(tag_id);
CREATE INDEX experiment_tag_by_tag ON experiment_tag(tag_id);
CREATE INDEX iteration_tag_by_tag ON iteration_tag(tag_id);

-- Model names are unique in the whole registry (/models/<m> is one directory), not only
-- per project as in the original. last_version makes numbers never reused after a delete.
CREATE TABLE model (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id    INTEGER NOT NULL REFERENCES project(id),
    name          TEXT NOT NULL UNIQUE CHECK (name <> '' AND length(CAST(name AS BLOB)) <= 255),
    description   TEXT NOT NULL DEFAULT '',
    created_date  TEXT NOT NULL CHECK (created_date <> ''),
    updated_date  TEXT,
    last_version  INTEGER NOT NULL DEFAULT 0 CHECK (last_version >= 0)
);
CREATE INDEX model_by_project ON model(project_id, id);

CREATE TABLE model_version (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id      INTEGER NOT NULL REFERENCES model(id),
    version       INTEGER NOT NULL CHECK (version > 0),
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    resource_id   INTEGER REFERENCES resource(id),
    stage_id      INTEGER NOT NULL DEFAULT 1 CHECK (stage_id IN (1, 2, 3, 4)),
    description   TEXT NOT NULL DEFAULT '',
    created_date  TEXT NOT NULL CHECK (created_date <> ''),
    updated_date  TEXT,
    UNIQUE (model_id, version)
);
-- At most one PRODUCTION version per model, enforced by the database itself.
CREATE UNIQUE INDEX model_version_one_production ON model_version(model_id) WHERE stage_id = 3;
CREATE INDEX model_version_by_iteration ON model_version(iteration_id);
CREATE INDEX model_version_by_resource ON model_version(resource_id) WHERE resource_id IS NOT NULL;

-- MLflow-style aliases: a name pointing at one version of a model.
CREATE TABLE model_alias (
    model_id    INTEGER NOT NULL REFERENCES model(id),
    alias       TEXT NOT NULL CHECK (alias <> ''),
    version_id  INTEGER NOT NULL REFERENCES model_version(id),
    PRIMARY KEY (model_id, alias)
) WITHOUT ROWID;
CREATE INDEX model_alias_by_version ON model_alias(version_id);
