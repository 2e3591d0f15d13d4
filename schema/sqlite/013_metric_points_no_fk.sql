-- 013_metric_points_no_fk: nothing on SQLite. The PostgreSQL migration of this number drops
-- the foreign keys of metric and metric_block to iteration, which cost PostgreSQL one query
-- per inserted point; SQLite checks them in process, cheaply, and dropping one would mean
-- rebuilding the table. One numbered sequence for both engines (CMakeLists.txt).
SELECT 1;
