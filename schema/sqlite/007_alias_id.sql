-- 007_alias_id: every alias gets its own row id, the id of its inode in the filesystem.
--
-- Why: an alias's inode was its version's, so two aliases of one version were two names
-- of one inode, and the kernel does nothing when asked to rename one name of an inode
-- over another of the same inode: `ln -sfn ../versions/N aliases/A` with A already at N
-- left ln's temporary alias behind. AUTOINCREMENT: ids, like every inode's row, are never
-- reused. Moving an alias (`ln -sfn` to another version) keeps its id.
CREATE TABLE model_alias_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id    INTEGER NOT NULL REFERENCES model(id),
    alias       TEXT NOT NULL CHECK (alias <> ''),
    version_id  INTEGER NOT NULL REFERENCES model_version(id),
    UNIQUE (model_id, alias)
);

INSERT INTO model_alias_new(model_id, alias, version_id)
SELECT model_id, alias, version_id FROM model_alias ORDER BY model_id, alias;

DROP INDEX model_alias_by_version;
DROP TABLE model_alias;
ALTER TABLE model_alias_new RENAME TO model_alias;
CREATE INDEX model_alias_by_version ON model_alias(version_id);
