/*
 * run_cmd.c - `deardiary run`: wrap any program in an iteration, as the original's
 * with_iteration() wraps a Julia function.
 *
 *   deardiary run [--db DB] [--parent ITERATION] [--snapshot | --no-snapshot]
 *                 EXPERIMENT [--] COMMAND [ARGS...]
 *
 * Creates a RUNNING iteration, snapshots the environment (top-level iterations only,
 * unless asked), runs COMMAND with DEARDIARY_ITERATION pointing at the iteration's
 * directory in the mount, copies the command's stderr to ours while keeping its tail, and
 * ends the iteration: SUCCEEDED on exit 0, FAILED with the stderr tail on another exit,
 * KILLED when the command dies of a signal or this process is interrupted. The exit
 * status is the command's (128+N for signal N, as shells report it).
 *
 * Everything goes through the store API on the database file: EXPERIMENT given as a path
 * in a mount is mapped to that mount's database (locate.h), so the iteration is created,
 * snapshotted and ended in single store transactions (an env/ snapshot and a status with
 * its error_message can not be written through the filesystem, where they are read-only
 * or two separate writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "locate.h"
#include "snapshot.h"

/* What ends up in error_message: at most the last TAIL_LINES lines of the command's
 * stderr, and at most TAIL_BYTES of them. */
#define TAIL_LINES 20
#define TAIL_BYTES 4096
/* The status when `deardiary run` itself fails before the command starts (as env(1),
 * timeout(1) and docker run use 125), and when the command cannot be executed (as sh). */
#define EXIT_RUN_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

/* The signals forwarded to the command. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* The one piece of state a signal handler needs: the write end of the self-pipe that
 * turns signals into readable bytes for the poll loop. */
static struct run_signal_state {
    int pipe_w;
} run_signals = {-1};

typedef struct run_args {
    const char *db;          /* --db, or NULL */
    const char *parent;      /* --parent, or NULL */
    int snapshot;            /* -1: default (top-level only), 0 or 1 */
    const char *experiment;
    int cmd_argc;
    char **cmd_argv;
} run_args;

/* Where the iteration goes: the database, the experiment, and the mount if any. */
typedef struct run_target {
    char *db;
    char *mnt;               /* NULL when the database is not mounted */
    char *project;
    char *experiment;
    int64_t experiment_id;
} run_target;

/* What the command did, collected by the wait loop. */
typedef struct run_outcome {
    int status;              /* waitpid status */
    int interrupted;         /* the signal that interrupted `deardiary run`, or 0 */
    char tail[TAIL_BYTES];   /* the last bytes of its stderr */
    size_t tail_len;
} run_outcome;

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary run [--db DB] [--parent ITERATION] [--snapshot | --no-snapshot]\n"
            "                     EXPERIMENT [--] COMMAND [ARGS...]\n"
            "\n"
            "Runs COMMAND as a new iteration of EXPERIMENT: RUNNING while it runs, then\n"
            "SUCCEEDED (exit 0), FAILED (other exits; error_message holds the last lines of\n"
            "its stderr) or KILLED (killed by a signal, or this command interrupted).\n"
            "The environment (git SHA and dirty flag, the command line, Julia version and\n"
            "project, lock files) is captured for top-level iterations (--snapshot for a\n"
            "child, --no-snapshot to skip). The exit status is the command's.\n"
            "\n"
            "EXPERIMENT is the experiment's directory in a mount (<mnt>/projects/P/experiments/E)\n"
            "or P/E in the database DB (without --db: the database of the mount the current\n"
            "directory is in, else the configured `database`; never a new database), where a\n"
            "missing project or experiment is created (unless the database is mounted). The command sees DEARDIARY_ITERATION (the\n"
            "iteration's directory, when the database is mounted), DEARDIARY_ITERATION_ID,\n"
            "DEARDIARY_EXPERIMENT and DEARDIARY_DB_FILE.\n");
}

/* Parse the command line; 0, or the exit status for a usage error or --help. */
static int parse_args(int argc, char **argv, run_args *a, int *exit_out)
{
    *a = (run_args){.snapshot = -1};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            run_usage(stdout);
            *exit_out = 0;
            return -1;
        }
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            a->db = argv[++i];
        else if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc)
            a->parent = argv[++i];
        else if (strcmp(argv[i], "--snapshot") == 0)
            a->snapshot = 1;
        else if (strcmp(argv[i], "--no-snapshot") == 0)
            a->snapshot = 0;
        else {
            fprintf(stderr, "deardiary run: unknown option %s\n", argv[i]);
            run_usage(stderr);
            *exit_out = 2;
            return -1;
        }
    }
    if (i < argc)
        a->experiment = argv[i++];
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (!a->experiment || i >= argc) {
        fprintf(stderr, "deardiary run: %s\n", a->experiment ? "no command given"
                                                              : "no experiment given");
        run_usage(stderr);
        *exit_out = 2;
        return -1;
    }
    a->cmd_argc = argc - i;
    a->cmd_argv = argv + i;
    return 0;
}

static void target_free(run_target *t)
{
    free(t->db);
    free(t->mnt);
    free(t->project);
    free(t->experiment);
}

/* Split "projects/P/experiments/E" (a trailing "/iterations" allowed) into P and E. */
static int split_experiment_path(const char *rel, run_target *t)
{
    char *copy = strdup(rel), *save = NULL;
    char *parts[6] = {0};
    int n = 0;
    for (char *p = copy ? strtok_r(copy, "/", &save) : NULL; p && n < 6;
         p = strtok_r(NULL, "/", &save))
        parts[n++] = p;
    int ok = (n == 4 || (n == 5 && strcmp(parts[4], "iterations") == 0)) &&
             strcmp(parts[0], "projects") == 0 && strcmp(parts[2], "experiments") == 0;
    if (ok) {
        t->project = strdup(parts[1]);
        t->experiment = strdup(parts[3]);
    }
    free(copy);
    return ok && t->project && t->experiment ? 0 : -1;
}

/* Resolve EXPERIMENT to a database, a project and experiment name, and a mount. */
static int resolve_target(const run_args *a, const dd_config *cfg, run_target *t)
{
    memset(t, 0, sizeof *t);
    dd_located loc;
    int found = a->db ? 0 : dd_locate_path(a->experiment, &loc);
    if (found < 0)
        return -1;
    if (found) {
        t->db = loc.db;
        t->mnt = loc.mnt;
        int rc = split_experiment_path(loc.rel, t);
        if (rc != 0)
            fprintf(stderr, "deardiary run: %s is not an experiment directory (expected "
                            "%s/projects/PROJECT/experiments/EXPERIMENT)\n", a->experiment,
                    loc.mnt);
        free(loc.rel);
        return rc;
    }
    const char *slash = strchr(a->experiment, '/');
    if (!slash || slash == a->experiment || !slash[1] || strchr(slash + 1, '/')) {
        fprintf(stderr, "deardiary run: \"%s\" is neither an experiment directory in a "
                        "mount nor PROJECT/EXPERIMENT\n", a->experiment);
        return -1;
    }
    t->project = strndup(a->experiment, (size_t)(slash - a->experiment));
    t->experiment = strdup(slash + 1);
    t->db = dd_cmd_registry(cfg, a->db, "run");
    if (!t->project || !t->experiment || !t->db)
        return -1;
    t->mnt = dd_locate_mount_of(t->db);   /* so the command still gets a directory */
    return 0;
}

/* The experiment's id; for a P/E reference (no mount), a missing project or experiment
 * is created, as mlflow.set_experiment does. Prints the error. */
static int find_experiment(dd_store *st, run_target *t)
{
    dd_err err = {0};
    int64_t pid = 0;
    dd_code code = dd_name_check(t->project, "project name", &err);
    if (code == DD_OK)
        code = dd_name_check(t->experiment, "experiment name", &err);
    if (code == DD_OK)
        code = dd_project_find(st, t->project, &pid, &err);
    if (code == DD_NOT_FOUND && !t->mnt)
        code = dd_project_create(st, 0, t->project, &pid, &err);
    if (code == DD_OK)
        code = dd_experiment_find(st, pid, t->experiment, &t->experiment_id, &err);
    if (code == DD_NOT_FOUND && !t->mnt)
        code = dd_experiment_create(st, pid, t->experiment, &t->experiment_id, &err);
    if (code != DD_OK) {
        fprintf(stderr, "deardiary run: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* --parent: an iteration id, or the path of an iteration's directory (its last part). */
static int parse_parent(const char *text, int64_t *out)
{
    const char *base = strrchr(text, '/');
    base = base && base[1] ? base + 1 : text;
    char *end;
    long long v = strtoll(base, &end, 10);
    if (*base < '0' || *base > '9' || (*end && strcmp(end, "/") != 0) || v <= 0) {
        fprintf(stderr, "deardiary run: --parent %s is not an iteration id\n", text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Capture and store the snapshot; a failure is a warning, never the run's failure. */
static void snapshot_iteration(dd_store *st, int64_t id, const run_args *a)
{
    dd_capture cap;
    dd_err err = {0};
    if (dd_capture_environment(&cap, a->cmd_argc, a->cmd_argv) != 0) {
        fprintf(stderr, "deardiary run: environment snapshot: out of memory\n");
    } else {
        dd_snapshot snap = dd_capture_snapshot(&cap);
        if (dd_iteration_snapshot_save(st, id, &snap, cap.files, cap.nfiles, &err) != DD_OK)
            fprintf(stderr, "deardiary run: environment snapshot not saved: %s\n", err.msg);
    }
    dd_capture_free(&cap);
}

/* Signal handler: queue (signal, sent-by-the-terminal) for the loop. */
static void on_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    int saved = errno;
    unsigned char msg[2] = {(unsigned char)sig, info && info->si_code == SI_KERNEL};
    if (run_signals.pipe_w >= 0 && write(run_signals.pipe_w, msg, sizeof msg) < 0) {
        /* a full pipe already holds enough wake-ups */
    }
    errno = saved;
}

/* Catch the forwarded signals and SIGCHLD through the self-pipe; ignore SIGPIPE (our
 * stderr may go away before the command's does). */
static int install_signals(int pipe_w)
{
    run_signals.pipe_w = pipe_w;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        if (sigaction(forwarded[i], &sa, NULL) != 0)
            return -1;
    sa.sa_flags |= SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        return -1;
    return signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : 0;
}

/* In the child, before exec: default dispositions, as if started by a shell. */
static void reset_signals(void)
{
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        signal(forwarded[i], SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}

/* Set the variables the command sees. */
static int set_child_env(const run_target *t, int64_t id)
{
    char num[24], *dir = NULL, *exp = NULL;
    snprintf(num, sizeof num, "%lld", (long long)id);
    int rc = 0;
    if (t->mnt) {
        if (asprintf(&exp, "%s/projects/%s/experiments/%s", t->mnt, t->project,
                     t->experiment) < 0 ||
            asprintf(&dir, "%s/iterations/%s", exp, num) < 0)
            return -1;
        rc |= setenv("DEARDIARY_ITERATION", dir, 1);
    } else {
        if (asprintf(&exp, "%s/%s", t->project, t->experiment) < 0)
            return -1;
        rc |= unsetenv("DEARDIARY_ITERATION");   /* never a stale one from an outer run */
    }
    rc |= setenv("DEARDIARY_ITERATION_ID", num, 1);
    rc |= setenv("DEARDIARY_EXPERIMENT", exp, 1);
    rc |= setenv("DEARDIARY_DB_FILE", t->db, 1);
    free(dir);
    free(exp);
    return rc;
}

/* Start the command with its stderr on `err_w`; the pid, or -1. If exec fails, the child
 * reports it on that stderr (so it lands in error_message) and exits 126 or 127. */
static pid_t spawn(const run_args *a, const run_target *t, int64_t id, int err_w)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    reset_signals();
    if (dup2(err_w, STDERR_FILENO) < 0 || set_child_env(t, id) != 0)
        _exit(EXIT_RUN_FAILED);
    execvp(a->cmd_argv[0], a->cmd_argv);
    int e = errno;
    fprintf(stderr, "deardiary run: %s: %s\n", a->cmd_argv[0], strerror(e));
    _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

/* Write all of buf to fd, ignoring failures (our stderr may be closed or full). */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Pass a chunk of the command's stderr to ours and keep the last TAIL_BYTES of it. */
static void take_stderr(run_outcome *o, const char *buf, size_t n)
{
    write_all(STDERR_FILENO, buf, n);
    if (n >= TAIL_BYTES) {
        memcpy(o->tail, buf + n - TAIL_BYTES, TAIL_BYTES);
        o->tail_len = TAIL_BYTES;
        return;
    }
    if (o->tail_len + n > TAIL_BYTES) {
        size_t drop = o->tail_len + n - TAIL_BYTES;
        memmove(o->tail, o->tail + drop, o->tail_len - drop);
        o->tail_len -= drop;
    }
    memcpy(o->tail + o->tail_len, buf, n);
    o->tail_len += n;
}

/* Read what the pipe holds now; returns 0 at end of file, 1 when it may hold more. */
static int pump_stderr(run_outcome *o, int fd)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            take_stderr(o, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN ? 1 : 0;
    }
}

/* Handle the queued signals: reap the child, or forward to it (no child yet: `child` 0,
 * just note an interruption). Returns 1 once the child has exited (o->status set). */
static int handle_signals(int sig_r, pid_t child, run_outcome *o)
{
    unsigned char msg[64];
    ssize_t n;
    while ((n = read(sig_r, msg, sizeof msg)) > 0) {
        for (ssize_t i = 0; i + 1 < n; i += 2) {
            if (msg[i] == SIGCHLD)
                continue;
            if (!o->interrupted)
                o->interrupted = msg[i];
            /* a signal from the terminal reached the command too (same process group);
             * one sent to us alone (kill, a scheduler) is passed on */
            if (!msg[i + 1] && child > 0)
                kill(child, msg[i]);
        }
    }
    if (child <= 0)
        return 0;
    pid_t r;
    while ((r = waitpid(child, &o->status, WNOHANG)) < 0 && errno == EINTR)
        ;
    return r == child;
}

/* Wait for the command, copying its stderr and forwarding signals. */
static void supervise(pid_t child, int err_r, int sig_r, run_outcome *o)
{
    bool err_open = true;
    for (;;) {
        struct pollfd fds[2] = {{sig_r, POLLIN, 0}, {err_open ? err_r : -1, POLLIN, 0}};
        int n = poll(fds, 2, err_open ? -1 : 1000);
        if (n < 0 && errno != EINTR) {   /* cannot watch any more: just wait for it */
            while (waitpid(child, &o->status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            err_open = pump_stderr(o, err_r) == 1;
        if (handle_signals(sig_r, child, o))
            break;
    }
    /* what the command wrote before it exited is in the pipe; a background process it
     * left behind may keep the pipe open, so take what is there and stop */
    if (err_open)
        pump_stderr(o, err_r);
}

/* The tail as error_message: the last TAIL_LINES lines, without the final newline. */
static void tail_lines(const run_outcome *o, char *out, size_t size)
{
    size_t end = o->tail_len;
    while (end && (o->tail[end - 1] == '\n' || o->tail[end - 1] == '\r'))
        end--;
    size_t start = end;
    for (int lines = 0; start > 0; start--)
        if (o->tail[start - 1] == '\n' && ++lines == TAIL_LINES)
            break;
    snprintf(out, size, "%.*s", (int)(end - start), o->tail + start);
}

/* "SIGTERM" for 15. */
static const char *sig_name(int sig, char buf[24])
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, 24, "SIG%s", abbrev);
    else
        snprintf(buf, 24, "signal %d", sig);
    return buf;
}

/* End the iteration as the outcome says; returns the exit status to report. */
static int finish(dd_store *st, int64_t id, const run_outcome *o)
{
    char tail[TAIL_BYTES + 1], msg[TAIL_BYTES + 128], sbuf[24];
    tail_lines(o, tail, sizeof tail);
    int status = DD_ITER_SUCCEEDED, exit_code;
    const char *message = NULL;
    if (WIFSIGNALED(o->status)) {
        exit_code = 128 + WTERMSIG(o->status);
        status = DD_ITER_KILLED;
        snprintf(msg, sizeof msg, "killed by %s%s%s", sig_name(WTERMSIG(o->status), sbuf),
                 tail[0] ? "\n" : "", tail);
        message = msg;
    } else {
        exit_code = WEXITSTATUS(o->status);
        if (exit_code != 0) {
            status = DD_ITER_FAILED;
            snprintf(msg, sizeof msg, "%s", tail[0] ? tail : "");
            if (!tail[0])
                snprintf(msg, sizeof msg, "exit status %d", exit_code);
            message = msg;
        }
    }
    if (o->interrupted && status != DD_ITER_KILLED) {
        status = DD_ITER_KILLED;
        snprintf(msg, sizeof msg, "deardiary run interrupted by %s%s%s",
                 sig_name(o->interrupted, sbuf), tail[0] ? "\n" : "", tail);
        message = msg;
    }
    dd_err err = {0};
    dd_code code = dd_iteration_set_status(st, id, status, message, &err);
    if (code == DD_READ_ONLY)
        fprintf(stderr, "deardiary run: iteration %lld was ended by the command; its status "
                        "is kept\n", (long long)id);
    else if (code != DD_OK)
        fprintf(stderr, "deardiary run: could not end iteration %lld: %s\n", (long long)id,
                err.msg);
    return exit_code;
}

/* Run the command as iteration `id` and end the iteration; returns the exit status.
 * Signals are already caught into `sig_pipe` (see dd_cmd_run). */
static int run_iteration(dd_store *st, int64_t id, const run_args *a, const run_target *t,
                         int sig_r)
{
    run_outcome *o = calloc(1, sizeof *o);
    int err_pipe[2] = {-1, -1};
    if (!o)
        return EXIT_RUN_FAILED;
    /* interrupted while the iteration was being created and snapshotted: do not start */
    if (handle_signals(sig_r, 0, o) == 0 && o->interrupted) {
        o->status = o->interrupted;   /* as if the command had died of that signal */
        int rc = finish(st, id, o);
        free(o);
        return rc;
    }
    pid_t child = -1;
    if (pipe2(err_pipe, O_CLOEXEC) == 0)
        child = spawn(a, t, id, err_pipe[1]);
    int rc;
    if (child > 0) {
        close(err_pipe[1]);
        fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
        supervise(child, err_pipe[0], sig_r, o);
        rc = finish(st, id, o);
    } else {
        int e = errno;
        fprintf(stderr, "deardiary run: cannot start %s: %s\n", a->cmd_argv[0], strerror(e));
        o->status = EXIT_RUN_FAILED << 8;   /* as if it had exited 125 */
        o->tail_len = (size_t)snprintf(o->tail, sizeof o->tail, "cannot start %s: %s",
                                       a->cmd_argv[0], strerror(e));
        rc = finish(st, id, o);
        if (err_pipe[1] >= 0)
            close(err_pipe[1]);
    }
    if (err_pipe[0] >= 0)
        close(err_pipe[0]);
    free(o);
    return rc;
}

int dd_cmd_run(const char *config_file, int argc, char **argv)
{
    run_args a;
    int exit_code = 0;
    if (parse_args(argc, argv, &a, &exit_code) != 0)
        return exit_code;
    int64_t parent = 0, id = 0;
    if (a.parent && parse_parent(a.parent, &parent) != 0)
        return 2;
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return EXIT_RUN_FAILED;
    run_target t;
    dd_store *st = NULL;
    dd_err err = {0};
    int rc = EXIT_RUN_FAILED, sig_pipe[2] = {-1, -1};
    if (resolve_target(&a, &cfg, &t) != 0 ||
        dd_cmd_open_existing(&cfg, t.db, "run", &st) != 0 || find_experiment(st, &t) != 0)
        goto out;
    char *db_abs = realpath(t.db, NULL);   /* the command may change directory */
    if (db_abs) {
        free(t.db);
        t.db = db_abs;
    }
    /* catch signals before the iteration exists, so that none can leave it RUNNING */
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || install_signals(sig_pipe[1]) != 0) {
        fprintf(stderr, "deardiary run: %s\n", strerror(errno));
        goto out;
    }
    if (dd_iteration_create(st, t.experiment_id, parent, &id, &err) != DD_OK) {
        if (parent)
            fprintf(stderr, "deardiary run: --parent %lld: %s\n", (long long)parent, err.msg);
        else
            fprintf(stderr, "deardiary run: %s/%s: %s\n", t.project, t.experiment, err.msg);
        goto out;
    }
    if (a.snapshot == 1 || (a.snapshot == -1 && parent == 0))
        snapshot_iteration(st, id, &a);
    rc = run_iteration(st, id, &a, &t, sig_pipe[0]);
out:
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
    dd_store_close(st);
    target_free(&t);
    dd_config_free(&cfg);
    return rc;
}
