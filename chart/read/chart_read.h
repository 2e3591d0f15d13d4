/*
 * chart_read.h - a metric series from the store into the M4 downsampler, through the
 * store's block summaries (dd_metric_scan): the one part of chart/ that reads the store,
 * shared by the filesystem's SVG charts (fs/charts.c) and the dashboard (server/h_ui.c).
 */
#ifndef DD_CHART_READ_H
#define DD_CHART_READ_H

#include "downsample.h"
#include "store.h"

/* Feed every point of the series (iteration_id, key), in step order, into `ds`
 * (dd_ds_init'ed, nothing fed yet). A block of 64 points that
 * falls into one column is fed whole (dd_ds_add_run), so the result is exactly what
 * feeding every point gives, read from about 1/64 of the rows of a long series whose
 * steps never go back. */
dd_code dd_chart_read_series(dd_store *st, int64_t iteration_id, const char *key,
                             dd_downsample *ds, dd_err *err);

#endif
