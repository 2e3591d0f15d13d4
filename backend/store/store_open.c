/*
 * store_open.c - dd_store_open: the store object (db.c) and then the replay of metric
 * journals that dead processes left (metric_log.c). It lives apart from both so that db.c
 * never calls into metric_log.c by name (metric_log.c calls db.c, and registers its drain
 * and stop in the store: db.h db_set_log_hooks). No two files need each other.
 */
#include "db.h"

dd_code dd_store_open(const char *path, const dd_store_options *opts, dd_store **out,
                      dd_err *err)
{
    dd_code code = db_store_open(path, opts, out, err);
    if (code != DD_OK || (opts && opts->read_only))
        return code;
    int replayed = 0;
    code = dd_metric_log_recover(*out, &replayed, err);
    if (code != DD_OK) {
        dd_store_close(*out);
        *out = NULL;
    }
    return code;
}
