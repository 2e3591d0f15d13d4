/*
 * progress.c - dd_bar (progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

dd_bar dd_bar_start(void)
{
    return (dd_bar){.tty = isatty(STDERR_FILENO) == 1, .last = 0};
}

void dd_bar_draw(dd_bar *b, const char *label, double frac, const char *detail, bool force)
{
    double t = now_s();
    if (!b->tty || (!force && t - b->last < 0.1))
        return;
    b->last = t;
    if (frac > 1)
        frac = 1;
    if (frac < 0)
        frac = 0;
    char cells[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        cells[i] = i < fill ? '#' : '.';
    cells[30] = 0;
    fprintf(stderr, "\r%s [%s] %3d%% %s", label, cells, (int)(frac * 100), detail);
    fflush(stderr);
}

void dd_bar_end(dd_bar *b)
{
    if (b->tty && b->last > 0)
        fputc('\n', stderr);
    b->last = 0;
}
