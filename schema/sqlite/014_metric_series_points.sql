-- 014_metric_series_points: a point names its series by id (metric_latest.id, the series
-- id the store already hands out: dd_metric_series_by_id, the REST API's point ids)
-- instead of by (iteration_id, key). Points move to metric_point, keyed
-- (series_id, step, id); `metric` becomes a view with the old columns, for reading a
-- registry with SQL (sqlite3, psql). The store reads and writes metric_point only.
--
-- Why: on PostgreSQL half the server's time in a 10,000-point write() went into the
-- points' primary key, whose second column was the text key (each comparison collates it
-- and finds the columns after it by walking the tuple). An integer key of three BIGINTs
-- is cheaper to compare and smaller, and a series created after the others appends at the
-- right edge of the index (BENCHMARKS.md, 2026-12-07 "Points keyed by series"). One SQL
-- for both engines (docs/ENGINES.md §3): SQLite gets the same table.
--
-- Every series with points has a summary row (the store writes both in one transaction).
-- Points without one (only raw SQL or an older fsck-reported fault makes them) get one
-- here first, from their points, so no point is lost; its text_bytes is left 0, which
-- `deardiary fsck` reports and --repair recomputes (SQL cannot format the values as the
-- metric files print them).
--
-- No foreign key: the store deletes a series' points in the transaction that deletes its
-- summary row (metric.c, projects.c), and fsck reports points of a series that does not
-- exist, as for PostgreSQL since 013.
INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step, point_count,
                          text_bytes, updated_date)
SELECT m.iteration_id, m.key, m.value, m.step, m.recorded_at,
       (SELECT MAX(x.step) FROM metric x WHERE x.iteration_id = m.iteration_id AND x.key = m.key),
       (SELECT COUNT(*) FROM metric x WHERE x.iteration_id = m.iteration_id AND x.key = m.key),
       0, m.recorded_at
FROM metric m
WHERE NOT EXISTS (SELECT 1 FROM metric_latest l
                  WHERE l.iteration_id = m.iteration_id AND l.key = m.key)
  AND NOT EXISTS (SELECT 1 FROM metric y WHERE y.iteration_id = m.iteration_id
                  AND y.key = m.key AND (y.step, y.id) > (m.step, m.id))
  AND EXISTS (SELECT 1 FROM iteration i WHERE i.id = m.iteration_id);

CREATE TABLE metric_point (
    series_id     INTEGER NOT NULL,
    step          INTEGER NOT NULL,
    id            INTEGER NOT NULL CHECK (id >= 0),
    value         REAL NOT NULL,
    recorded_at   TEXT NOT NULL CHECK (recorded_at <> ''),
    PRIMARY KEY (series_id, step, id)
) WITHOUT ROWID;

INSERT INTO metric_point(series_id, step, id, value, recorded_at)
SELECT l.id, m.step, m.id, m.value, m.recorded_at
FROM metric m JOIN metric_latest l ON l.iteration_id = m.iteration_id AND l.key = m.key
ORDER BY l.id, m.step, m.id;

DROP TABLE metric;

CREATE VIEW metric(iteration_id, key, step, id, value, recorded_at) AS
SELECT l.iteration_id, l.key, p.step, p.id, p.value, p.recorded_at
FROM metric_point p JOIN metric_latest l ON l.id = p.series_id;
