-- 013_metric_points_no_fk (PostgreSQL only; schema/sqlite/013 is empty): the points and
-- their block summaries no longer carry a foreign key to iteration.
--
-- Why: PostgreSQL checks a foreign key by one query per inserted row (an RI trigger, run
-- at the end of the statement: `SELECT 1 FROM iteration WHERE id = $1 FOR KEY SHARE`).
-- For metric appends that was two thirds of the server's work: a 10,000-line write() ran
-- at 130-150k points/s with it and 264-336k without it, the same binary, the same
-- server (BENCHMARKS.md, 2026-12-07 "COPY and the held-write check").
--
-- What keeps the rule instead (docs/ENGINES.md §3.3): every append takes the iteration's
-- row lock (FOR NO KEY UPDATE) and checks the row exists in its own transaction, and every
-- delete of an iteration (or of its experiment or project) deletes its points and blocks
-- in the transaction that deletes the row, which takes that row's lock first; so no store
-- transaction can leave a point whose iteration is gone. Raw SQL can: `deardiary fsck`
-- reports such points (its registry rule "points of an iteration that does not exist").
-- metric_latest (one row per series) keeps its foreign key.
ALTER TABLE metric DROP CONSTRAINT IF EXISTS metric_iteration_id_fkey;
ALTER TABLE metric_block DROP CONSTRAINT IF EXISTS metric_block_iteration_id_fkey;
