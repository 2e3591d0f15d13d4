-- 004_metric_clustered: metric points stored in series order (a WITHOUT ROWID table whose
-- primary key is the series' read order) instead of a rowid table plus an index.
--
-- Why: a series is always read whole, in (step, write order), and appended one point at a
-- time. With a rowid table each point lived twice (the row and its index entry) and a read
-- followed every index entry to its row; clustered, an append touches one b-tree and a
-- read is one sequential range scan.
--
-- `id` is now the point's position in its series: 0 for the first point written, then
-- 1, 2, ... in write order (metric_latest.point_count is the next one). It breaks ties
-- between points of equal step. Points keep their relative order here: existing ids are
-- renumbered per series in their old (global, increasing) order.
CREATE TABLE metric_clustered (
    iteration_id  INTEGER NOT NULL REFERENCES iteration(id),
    key           TEXT NOT NULL CHECK (key <> ''),
    step          INTEGER NOT NULL,
    id            INTEGER NOT NULL CHECK (id >= 0),
    value         REAL NOT NULL,
    recorded_at   TEXT NOT NULL CHECK (recorded_at <> ''),
    PRIMARY KEY (iteration_id, key, step, id)
) WITHOUT ROWID;

INSERT INTO metric_clustered(iteration_id, key, step, id, value, recorded_at)
SELECT iteration_id, key, step,
       row_number() OVER (PARTITION BY iteration_id, key ORDER BY id) - 1,
       value, recorded_at
FROM metric;

DROP INDEX metric_by_series;
DROP TABLE metric;
ALTER TABLE metric_clustered RENAME TO metric;
