-- 010_stage_history: every change of a model version's stage, with when and by whom (issue
-- 17: the dashboard's model page shows "a history of stage changes"; `models/<m>/history`
-- in the mount and GET /v1/model/{mid}/stagehistory read it).
--
-- One row per change, written by the store in the transaction that makes it
-- (dd_version_set_stage_as: the version, and the PRODUCTION incumbent it archives;
-- dd_version_create_as: the initial NO_STAGE). from_stage_id NULL: the version came into
-- being (registered) in to_stage_id. user_id: the acting DearDiary user when the caller
-- knew one (REST with auth, a shared mount's user mapping), else NULL; a deleted user's
-- rows keep the change and lose the name (ON DELETE SET NULL). model_id is the version's
-- (a version never changes model), kept here so a model's history is one index range.
-- Rows go with their version or model: the store's deletes remove them (as they do the
-- model's aliases), in the same transaction.
--
-- Versions registered before this migration get one row each: from NULL to their current
-- stage at their creation time, so no version's history is empty (what happened in
-- between was not recorded).
CREATE TABLE stage_change (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id          INTEGER NOT NULL REFERENCES model(id),
    model_version_id  INTEGER NOT NULL REFERENCES model_version(id),
    from_stage_id     INTEGER CHECK (from_stage_id IN (1, 2, 3, 4)),
    to_stage_id       INTEGER NOT NULL CHECK (to_stage_id IN (1, 2, 3, 4)),
    changed_at        TEXT NOT NULL CHECK (changed_at <> ''),
    user_id           INTEGER REFERENCES user(id) ON DELETE SET NULL
);
CREATE INDEX stage_change_by_model ON stage_change(model_id, id);
CREATE INDEX stage_change_by_version ON stage_change(model_version_id);
CREATE INDEX stage_change_by_user ON stage_change(user_id) WHERE user_id IS NOT NULL;

INSERT INTO stage_change(model_id, model_version_id, from_stage_id, to_stage_id, changed_at)
SELECT model_id, id, NULL, stage_id, created_date FROM model_version ORDER BY created_date, id;
