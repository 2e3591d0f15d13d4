-- 008_row_times: every row the filesystem shows records when it last changed, so a file's
-- mtime/ctime follow its data (a second `rsync -a` copies what changed, and only that) and a
-- directory's mtime moves when its entries come and go, as on a disk.
--
-- updated_date  on project, experiment, iteration, parameter, metric_latest: when the row's
--               own values last changed (a value file, status, notes, a rename, a metric
--               batch). NULL: never since created (readers fall back to end_date, then
--               created_date). model, model_version and resource had one already.
-- dir_time      when an entry of one directory last came or went: (name, owner_id) is the
--               directory, e.g. ('params', <iteration id>), ('aliases', <model id>), and
--               ('root' | 'projects' | 'models', 0) for the three that belong to no row. No
--               row: nothing since its owner was created. One row per directory, not per
--               owner: the kernel drops a directory's cached attributes only for changes
--               made in that directory, so a time shared with a sibling would go stale
--               there (and `tar` would say "file changed as we read it").
--
-- Triggers keep both, so every writer (the mount, `deardiary run`, `register`, fsck) does,
-- and a cascade (`rm -r`) marks the directories it empties; the two hot rows (a parameter's
-- upsert, a metric batch's summary) are stamped by the store's own statement instead. 'now'
-- is one value for a whole statement, so the "IS NOT now" guards make a bulk delete (200k
-- parameters of a project removed by `rm -r`) write each directory once, not once per row.
-- The triggers upsert (ON CONFLICT DO UPDATE), never INSERT OR REPLACE: a trigger fired by
-- an upsert's DO UPDATE runs its statements under the outer statement's conflict policy
-- (ABORT), so OR REPLACE failed with a UNIQUE error (replacing an env/ file).

ALTER TABLE project ADD COLUMN updated_date TEXT;
ALTER TABLE experiment ADD COLUMN updated_date TEXT;
ALTER TABLE iteration ADD COLUMN updated_date TEXT;
ALTER TABLE parameter ADD COLUMN updated_date TEXT;
ALTER TABLE metric_latest ADD COLUMN updated_date TEXT;

-- Rows written before this migration: their last known change.
UPDATE parameter SET updated_date = (SELECT coalesce(i.end_date, i.created_date)
                                     FROM iteration i WHERE i.id = parameter.iteration_id);
UPDATE metric_latest SET updated_date = recorded_at;

CREATE TABLE dir_time (
    name          TEXT NOT NULL,
    owner_id      INTEGER NOT NULL,
    updated_date  TEXT NOT NULL,
    PRIMARY KEY (name, owner_id)
) WITHOUT ROWID;
INSERT INTO dir_time(name, owner_id, updated_date)
SELECT 'root', 0, coalesce((SELECT min(created_date) FROM project), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
INSERT INTO dir_time(name, owner_id, updated_date)
SELECT 'projects', 0, coalesce((SELECT max(created_date) FROM project), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
INSERT INTO dir_time(name, owner_id, updated_date)
SELECT 'models', 0, coalesce((SELECT max(created_date) FROM model), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- ---------------------------------------------------------------- projects, models

CREATE TRIGGER project_listed AFTER INSERT ON project BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'projects', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER project_unlisted AFTER DELETE ON project BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'projects', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER project_renamed AFTER UPDATE OF name ON project BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'projects', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER project_changed AFTER UPDATE OF name, description ON project BEGIN
    UPDATE project SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER project_dirs_gone AFTER DELETE ON project BEGIN
    DELETE FROM dir_time WHERE owner_id = OLD.id AND name IN ('experiments', 'p_models', 'p_tags');
END;
CREATE TRIGGER model_listed AFTER INSERT ON model BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'models', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'p_models', NEW.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER model_unlisted AFTER DELETE ON model BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'models', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'p_models', OLD.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER model_renamed AFTER UPDATE OF name ON model BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'models', 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'p_models', NEW.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER model_dirs_gone AFTER DELETE ON model BEGIN
    DELETE FROM dir_time WHERE owner_id = OLD.id AND name IN ('versions', 'aliases');
END;

-- ---------------------------------------------------------------- experiments

CREATE TRIGGER experiment_listed AFTER INSERT ON experiment BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'experiments', NEW.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER experiment_unlisted AFTER DELETE ON experiment BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'experiments', OLD.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER experiment_renamed AFTER UPDATE OF name ON experiment BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'experiments', NEW.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER experiment_changed AFTER UPDATE OF name, description, status_id, end_date ON experiment BEGIN
    UPDATE experiment SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER experiment_dirs_gone AFTER DELETE ON experiment BEGIN
    DELETE FROM dir_time WHERE owner_id = OLD.id AND name IN ('iterations', 'resources', 'e_tags');
END;
CREATE TRIGGER resource_listed AFTER INSERT ON resource BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'resources', NEW.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER resource_unlisted AFTER DELETE ON resource BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'resources', OLD.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER resource_renamed AFTER UPDATE OF name ON resource BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'resources', NEW.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER experiment_tag_listed AFTER INSERT ON experiment_tag BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'e_tags', NEW.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER experiment_tag_unlisted AFTER DELETE ON experiment_tag BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'e_tags', OLD.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER project_tag_listed AFTER INSERT ON project_tag BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'p_tags', NEW.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER project_tag_unlisted AFTER DELETE ON project_tag BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'p_tags', OLD.project_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;

-- ---------------------------------------------------------------- iterations

CREATE TRIGGER iteration_listed AFTER INSERT ON iteration BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'iterations', NEW.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'children', NEW.parent_iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE NEW.parent_iteration_id IS NOT NULL
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER iteration_unlisted AFTER DELETE ON iteration BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'iterations', OLD.experiment_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'children', OLD.parent_iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE OLD.parent_iteration_id IS NOT NULL
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER iteration_changed AFTER UPDATE OF notes, status_id, end_date, error_message, julia_version, git_sha,
                git_dirty, entrypoint, project_toml, manifest_toml ON iteration BEGIN
    UPDATE iteration SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_dirs_gone AFTER DELETE ON iteration BEGIN
    DELETE FROM dir_time WHERE owner_id = OLD.id AND name IN ('params', 'metrics', 'env', 'children', 'i_tags');
END;
CREATE TRIGGER parameter_listed AFTER INSERT ON parameter BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'params', NEW.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER parameter_unlisted AFTER DELETE ON parameter BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'params', OLD.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER parameter_renamed AFTER UPDATE OF key ON parameter BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'params', NEW.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER metric_series_listed AFTER INSERT ON metric_latest BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'metrics', NEW.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER metric_series_unlisted AFTER DELETE ON metric_latest BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'metrics', OLD.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
-- env/<file> shows its directory's time (the file rows keep none).
CREATE TRIGGER iteration_file_listed AFTER INSERT ON iteration_file BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'env', NEW.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER iteration_file_unlisted AFTER DELETE ON iteration_file BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'env', OLD.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER iteration_file_changed AFTER UPDATE OF content ON iteration_file BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'env', NEW.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER iteration_tag_listed AFTER INSERT ON iteration_tag BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'i_tags', NEW.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER iteration_tag_unlisted AFTER DELETE ON iteration_tag BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'i_tags', OLD.iteration_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;

-- ---------------------------------------------------------------- the registry

CREATE TRIGGER version_listed AFTER INSERT ON model_version BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'versions', NEW.model_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER version_unlisted AFTER DELETE ON model_version BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'versions', OLD.model_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER alias_listed AFTER INSERT ON model_alias BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'aliases', NEW.model_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER alias_unlisted AFTER DELETE ON model_alias BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'aliases', OLD.model_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
CREATE TRIGGER alias_moved AFTER UPDATE OF version_id ON model_alias BEGIN
    INSERT INTO dir_time(name, owner_id, updated_date)
    SELECT 'aliases', NEW.model_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE true
    ON CONFLICT(name, owner_id) DO UPDATE SET updated_date = excluded.updated_date
    WHERE dir_time.updated_date IS NOT excluded.updated_date;
END;
