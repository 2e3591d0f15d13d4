/*
 * progress.h - the progress bar of the long commands (migrate-artifacts, migrate-db): one
 * line on stderr redrawn at most ten times a second, only when stderr is a terminal, so
 * scripts and logs see nothing of it.
 */
#ifndef DD_PROGRESS_H
#define DD_PROGRESS_H

#include <stdbool.h>

typedef struct dd_bar {
    bool tty;        /* stderr is a terminal: draw; otherwise every call does nothing */
    double last;     /* when it was last drawn (monotonic seconds) */
} dd_bar;

/* A bar for stderr (tty from isatty). */
dd_bar dd_bar_start(void);
/* Draw "\r<label> [####......] NN% <detail>"; frac is clamped to 0..1. Without `force`,
 * at most every 0.1 s. */
void dd_bar_draw(dd_bar *b, const char *label, double frac, const char *detail, bool force);
/* End the bar's line (before other output), when one was drawn. */
void dd_bar_end(dd_bar *b);

#endif
