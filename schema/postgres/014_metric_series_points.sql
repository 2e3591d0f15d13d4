-- 014_metric_series_points (PostgreSQL: schema/sqlite/014_metric_series_points.sql in this
-- engine's types; the reasons are written there): points keyed (series_id, step, id),
-- series_id being metric_latest.id, in metric_point; `metric` becomes a view with the old
-- columns. Measured on a scratch server before this was written (BENCHMARKS.md,
-- 2026-12-07 "Points keyed by series").
--
-- Points of an iteration that does not exist (raw SQL only, since 013; fsck reports them)
-- cannot get a summary row (its foreign key) and are not carried over.
INSERT INTO metric_latest(iteration_id, key, value, step, recorded_at, max_step, point_count,
                          text_bytes, updated_date)
SELECT DISTINCT ON (m.iteration_id, m.key) m.iteration_id, m.key, m.value, m.step,
       m.recorded_at,
       MAX(m.step) OVER (PARTITION BY m.iteration_id, m.key),
       COUNT(*) OVER (PARTITION BY m.iteration_id, m.key),
       0, m.recorded_at
FROM metric m
WHERE NOT EXISTS (SELECT 1 FROM metric_latest l
                  WHERE l.iteration_id = m.iteration_id AND l.key = m.key)
  AND EXISTS (SELECT 1 FROM iteration i WHERE i.id = m.iteration_id)
ORDER BY m.iteration_id, m.key, m.step DESC, m.id DESC;

ALTER TABLE metric RENAME TO metric_old;

CREATE TABLE metric_point (
    series_id     BIGINT NOT NULL,
    step          BIGINT NOT NULL,
    id            BIGINT NOT NULL CHECK (id >= 0),
    value         DOUBLE PRECISION NOT NULL,
    recorded_at   TEXT COLLATE "C" NOT NULL CHECK (recorded_at <> '')
);

INSERT INTO metric_point(series_id, step, id, value, recorded_at)
SELECT l.id, m.step, m.id, m.value, m.recorded_at
FROM metric_old m JOIN metric_latest l ON l.iteration_id = m.iteration_id AND l.key = m.key
ORDER BY l.id, m.step, m.id;

DROP TABLE metric_old;
-- the key after the rows: one sorted build instead of an insert per row
ALTER TABLE metric_point ADD PRIMARY KEY (series_id, step, id);

CREATE VIEW metric(iteration_id, key, step, id, value, recorded_at) AS
SELECT l.iteration_id, l.key, p.step, p.id, p.value, p.recorded_at
FROM metric_point p JOIN metric_latest l ON l.id = p.series_id;
