-- 007_row_times: every row the filesystem shows records when it last changed, so a file's
-- mtime/ctime follow its data (a second `rsync -a` copies what changed, and only that) and a
-- directory's mtime moves when entries come and go, as on a disk.
--
-- updated_date  the row's own values changed (a value file, status, notes, a rename...).
--               NULL: never changed since created (readers fall back to end_date, then
--               created_date). Set by the triggers below, except where the store already
--               maintained it (model, model_version, resource) or writes it itself in the
--               statement (parameter, metric_latest: the metric append is the hot path and
--               must not pay for a trigger's second UPDATE).
-- entries_date  an entry of one of the row's directories came or went (an experiment, an
--               iteration, a parameter, a metric series, a tag, a version, an alias, a
--               resource, a child...). Directories show it. NULL: nothing since created.
-- dir_time      the mount root, /projects and /models, which belong to no row.
--
-- Triggers do the bookkeeping so that every writer (the mount, `deardiary run`, `register`,
-- fsck) keeps it, and so that a cascade (`rm -r`) marks the parents it empties. 'now' is
-- one value for a whole statement, so the "IS NOT now" guards make a bulk delete (200k
-- parameters of a project removed by `rm -r`) write each parent once, not once per row.
-- The timestamps are the store's format: UTC ISO-8601 with milliseconds and 'Z'.

ALTER TABLE project ADD COLUMN updated_date TEXT;
ALTER TABLE project ADD COLUMN entries_date TEXT;
ALTER TABLE experiment ADD COLUMN updated_date TEXT;
ALTER TABLE experiment ADD COLUMN entries_date TEXT;
ALTER TABLE iteration ADD COLUMN updated_date TEXT;
ALTER TABLE iteration ADD COLUMN entries_date TEXT;
ALTER TABLE model ADD COLUMN entries_date TEXT;
ALTER TABLE parameter ADD COLUMN updated_date TEXT;
ALTER TABLE metric_latest ADD COLUMN updated_date TEXT;

-- Rows written before this migration: their last known change.
UPDATE parameter SET updated_date = (SELECT coalesce(i.end_date, i.created_date)
                                     FROM iteration i WHERE i.id = parameter.iteration_id);
UPDATE metric_latest SET updated_date = recorded_at;

CREATE TABLE dir_time (
    name          TEXT PRIMARY KEY CHECK (name IN ('root', 'projects', 'models')),
    updated_date  TEXT NOT NULL
);
INSERT INTO dir_time(name, updated_date)
SELECT 'root', coalesce((SELECT min(created_date) FROM project),
                        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
INSERT INTO dir_time(name, updated_date)
SELECT 'projects', coalesce((SELECT max(created_date) FROM project),
                            strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
INSERT INTO dir_time(name, updated_date)
SELECT 'models', coalesce((SELECT max(created_date) FROM model),
                          strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- ---------------------------------------------------------------- /projects, /models

CREATE TRIGGER project_listed AFTER INSERT ON project BEGIN
    UPDATE dir_time SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE name = 'projects' AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER project_unlisted AFTER DELETE ON project BEGIN
    UPDATE dir_time SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE name = 'projects' AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER project_renamed AFTER UPDATE OF name ON project BEGIN
    UPDATE dir_time SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE name = 'projects' AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER project_changed AFTER UPDATE OF name, description ON project BEGIN
    UPDATE project SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

CREATE TRIGGER model_listed AFTER INSERT ON model BEGIN
    UPDATE dir_time SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE name = 'models' AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER model_unlisted AFTER DELETE ON model BEGIN
    UPDATE dir_time SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE name = 'models' AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER model_renamed AFTER UPDATE OF name ON model BEGIN
    UPDATE dir_time SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE name = 'models' AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

-- ---------------------------------------------------------------- experiments

CREATE TRIGGER experiment_listed AFTER INSERT ON experiment BEGIN
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER experiment_unlisted AFTER DELETE ON experiment BEGIN
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER experiment_renamed AFTER UPDATE OF name ON experiment BEGIN
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER experiment_changed
AFTER UPDATE OF name, description, status_id, end_date ON experiment BEGIN
    UPDATE experiment SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

-- ---------------------------------------------------------------- iterations

CREATE TRIGGER iteration_listed AFTER INSERT ON iteration BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.parent_iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_unlisted AFTER DELETE ON iteration BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.parent_iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_changed
AFTER UPDATE OF notes, status_id, end_date, error_message, julia_version, git_sha, git_dirty,
                entrypoint, project_toml, manifest_toml ON iteration BEGIN
    UPDATE iteration SET updated_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND updated_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
-- `parent` appears or goes (a parent deleted: ON DELETE SET NULL).
CREATE TRIGGER iteration_reparented AFTER UPDATE OF parent_iteration_id ON iteration BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

-- An iteration's entries: params/, metrics/, env/, tags/.
CREATE TRIGGER parameter_listed AFTER INSERT ON parameter BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER parameter_unlisted AFTER DELETE ON parameter BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER parameter_renamed AFTER UPDATE OF key ON parameter BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER metric_series_listed AFTER INSERT ON metric_latest BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER metric_series_unlisted AFTER DELETE ON metric_latest BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_file_listed AFTER INSERT ON iteration_file BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_file_unlisted AFTER DELETE ON iteration_file BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
-- env/<file> shows its directory's time (the file rows keep none).
CREATE TRIGGER iteration_file_changed AFTER UPDATE OF content ON iteration_file BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

-- ---------------------------------------------------------------- tags

CREATE TRIGGER project_tag_listed AFTER INSERT ON project_tag BEGIN
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER project_tag_unlisted AFTER DELETE ON project_tag BEGIN
    UPDATE project SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.project_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER experiment_tag_listed AFTER INSERT ON experiment_tag BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER experiment_tag_unlisted AFTER DELETE ON experiment_tag BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_tag_listed AFTER INSERT ON iteration_tag BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER iteration_tag_unlisted AFTER DELETE ON iteration_tag BEGIN
    UPDATE iteration SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.iteration_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

-- ---------------------------------------------------------------- resources

CREATE TRIGGER resource_listed AFTER INSERT ON resource BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER resource_unlisted AFTER DELETE ON resource BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER resource_renamed AFTER UPDATE OF name ON resource BEGIN
    UPDATE experiment SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.experiment_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;

-- ---------------------------------------------------------------- the registry

-- A model's directories: versions/, aliases/, and the production/staging links.
CREATE TRIGGER version_listed AFTER INSERT ON model_version BEGIN
    UPDATE model SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.model_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER version_unlisted AFTER DELETE ON model_version BEGIN
    UPDATE model SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.model_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER version_staged AFTER UPDATE OF stage_id ON model_version BEGIN
    UPDATE model SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.model_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER alias_listed AFTER INSERT ON model_alias BEGIN
    UPDATE model SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.model_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER alias_unlisted AFTER DELETE ON model_alias BEGIN
    UPDATE model SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = OLD.model_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
CREATE TRIGGER alias_moved AFTER UPDATE ON model_alias BEGIN
    UPDATE model SET entries_date = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.model_id AND entries_date IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
END;
