/*
 * snapshot.h - capturing the environment of a command for `deardiary run`: git state, the
 * command line, the Julia version and project, and the lock files of the working
 * directory. What the original's capture_environment() records, for any program.
 */
#ifndef DD_SNAPSHOT_H
#define DD_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* The lock files captured from the working directory (besides the Julia project). */
#define DD_CAPTURE_MAX_FILES 8

typedef struct dd_capture {
    char *julia_version;    /* every string is malloc'd and "" when not found */
    char *git_sha;
    bool git_dirty;
    char *entrypoint;
    char *project_toml;
    char *manifest_toml;
    dd_snapshot_file files[DD_CAPTURE_MAX_FILES];   /* name: a literal; data: malloc'd */
    size_t nfiles;
} dd_capture;

/* Capture the environment of running argv[0..argc) in the current directory. Never fails
 * for a missing git, repository, Julia or file (those parts stay empty); returns -1 only
 * when out of memory (then *cap holds what was captured, free it). */
int dd_capture_environment(dd_capture *cap, int argc, char **argv);

/* Free what dd_capture_environment allocated. */
void dd_capture_free(dd_capture *cap);

/* The command line as one string, each argument shell-quoted when it needs to be, so
 * that pasting it into sh runs the same command. malloc'd; NULL when out of memory. */
char *dd_command_line(int argc, char **argv);

/* The dd_snapshot view of a capture (pointers into *cap). */
dd_snapshot dd_capture_snapshot(const dd_capture *cap);

#endif
