-- 011_metric_blocks (PostgreSQL: schema/sqlite/011_metric_blocks.sql in this engine's types):
-- a summary of every 64 consecutive points of a series, so a chart of a
-- long series reads about 1/64 of its rows (issue 17: `cat metrics/<key>.svg` of 1M points).
--
-- Block b of a series holds the points of positions 64b .. 64b+63 (metric.id, write order).
-- Points are append-only, so a full block never changes; the store merges the last block
-- on every append, in the transaction that inserts the points (backend/store/
-- metric_blocks.c), and deletes blocks with their series. The 64 is DB_METRIC_BLOCK there.
--
--   n                      points in the block (64 except in a series' last block)
--   ordered                1 when the block's steps never decrease in write order
--   first_*, last_*        its first and its last point (write order)
--   lo_*, hi_*             the first point (write order) holding its least / greatest value,
--                          lo_id / hi_id its position in the series
--
-- A chart (M4, chart/downsample.h) takes a whole block in place of its points when the
-- block lies inside one pixel column: the first, least, greatest and last points are all
-- M4 keeps of it, so the drawing is the same point for point. That needs the series read
-- in write order to be its read in step order: every block ordered and each block's
-- last_step <= the next one's first_step; otherwise the chart reads the points.
CREATE TABLE metric_block (
    iteration_id  BIGINT NOT NULL REFERENCES iteration(id),
    key           TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
    block         BIGINT NOT NULL CHECK (block >= 0),
    n             BIGINT NOT NULL CHECK (n BETWEEN 1 AND 64),
    ordered       BIGINT NOT NULL CHECK (ordered IN (0, 1)),
    first_step    BIGINT NOT NULL,
    first_value   DOUBLE PRECISION NOT NULL,
    last_step     BIGINT NOT NULL,
    last_value    DOUBLE PRECISION NOT NULL,
    lo_id         BIGINT NOT NULL,
    lo_step       BIGINT NOT NULL,
    lo_value      DOUBLE PRECISION NOT NULL,
    hi_id         BIGINT NOT NULL,
    hi_step       BIGINT NOT NULL,
    hi_value      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (iteration_id, key, block)
);

-- The blocks of the series already stored (the same rows the store's appends make:
-- test_metric_blocks.c runs this again and compares). Partition-only windows (one sort per
-- level) rather than row_number() per order: about half the time on 1M points.
-- lo_id / hi_id: the least position holding the least / greatest value.
INSERT INTO metric_block(iteration_id, key, block, n, ordered, first_step, first_value,
                         last_step, last_value, lo_id, lo_step, lo_value, hi_id, hi_step,
                         hi_value)
SELECT iteration_id, key, block, COUNT(*), 1 - MAX(descent),
       MAX(CASE WHEN id = first_id THEN step END), MAX(CASE WHEN id = first_id THEN value END),
       MAX(CASE WHEN id = last_id THEN step END), MAX(CASE WHEN id = last_id THEN value END),
       MAX(CASE WHEN id = lo_id THEN id END), MAX(CASE WHEN id = lo_id THEN step END),
       MAX(CASE WHEN id = lo_id THEN value END),
       MAX(CASE WHEN id = hi_id THEN id END), MAX(CASE WHEN id = hi_id THEN step END),
       MAX(CASE WHEN id = hi_id THEN value END)
FROM (SELECT iteration_id, key, id, step, value, block, descent, first_id, last_id,
             MIN(CASE WHEN value = lo_v THEN id END) OVER w AS lo_id,
             MIN(CASE WHEN value = hi_v THEN id END) OVER w AS hi_id
      FROM (SELECT iteration_id, key, id, step, value, id / 64 AS block,
                   CASE WHEN step < lag(step) OVER (PARTITION BY iteration_id, key, id / 64
                                                    ORDER BY id) THEN 1 ELSE 0 END AS descent,
                   MIN(id) OVER w AS first_id, MAX(id) OVER w AS last_id,
                   MIN(value) OVER w AS lo_v, MAX(value) OVER w AS hi_v
            FROM metric WINDOW w AS (PARTITION BY iteration_id, key, id / 64)) p
      WINDOW w AS (PARTITION BY iteration_id, key, block)) q
GROUP BY iteration_id, key, block;
