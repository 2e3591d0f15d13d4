/*
 * ui_assets.h - the dashboard's files, compiled into the binary by
 * cmake/embed_assets.cmake (the files of server/ui and the vendored uPlot dist files), so that
 * `deardiary serve` serves /ui/ with no file and no network at run time.
 */
#ifndef DD_UI_ASSETS_H
#define DD_UI_ASSETS_H

#include <stddef.h>

typedef struct dd_ui_asset {
    const char *name;           /* file name: "index.html", "uPlot.iife.min.js" */
    const char *content_type;
    const unsigned char *data;  /* NUL-terminated, `len` bytes before the NUL */
    size_t len;
} dd_ui_asset;

extern const dd_ui_asset dd_ui_assets[];
extern const int dd_ui_asset_count;

#endif
