/*
 * mount_cmd.c - `deardiary mount [DB] MOUNTPOINT`: checks the mountpoint (refusing one a
 * live FUSE daemon holds, recovering a stale one left by a killed daemon) and the
 * database, mounts, and runs the multithreaded FUSE loop until
 * `fusermount3 -u` (or a signal) ends it.
 *
 * The store is opened once before daemonizing, so a bad database is reported on the
 * terminal, then closed and opened again in the daemon: SQLite connections (and their
 * POSIX locks) must not cross a fork.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "access.h"
#include "commands.h"
#include "fuse_ll.h"
#include "placement.h"
#include "artifacts.h"
#include "vfs.h"

typedef struct mount_args {
    const char *db;
    char db_abs[4096];     /* db made absolute: the daemon changes directory to / */
    char mnt_abs[4096];    /* the mountpoint made absolute, for the same reason */
    const char *mountpoint;
    bool foreground;
    bool debug;
    int threads;
    char options[1024];    /* comma-separated -o options */
    const char *cacert;    /* --cacert: a remote mount's CA file */
    bool remote;           /* db is an http(s):// URL: a server's registry */
} mount_args;

static void mount_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary mount [DB|URL] MOUNTPOINT [-f] [-d] [-o OPT[,OPT...]] [-t N]\n"
            "\n"
            "Mounts the registry in DB (default: the configured `database`, created when\n"
            "absent), or the one a `deardiary serve` at URL (http:// or https://) serves,\n"
            "as the user `deardiary login URL` logged in (docs/REMOTE.md).\n"
            "  -f          stay in the foreground\n"
            "  -d          debug: foreground, and print every FUSE request\n"
            "  -o OPTS     FUSE mount options (allow_other, default_permissions, ...)\n"
            "  -t N        worker threads (default: mount.threads, 4)\n"
            "  --as USER   with allow_other: the DearDiary user the mounting account (and\n"
            "              root) act as (default: users.mount_as, `default`)\n"
            "  --cacert F  a URL's CAs (a server with a private CA)\n"
            "Unmount with: fusermount3 -u MOUNTPOINT\n");
}

static bool has_option(const char *options, const char *opt);

/* 0, 1 for --help, -1 for a usage error, -2 for an error already reported. */
static int parse_mount_args(int argc, char **argv, dd_config *cfg, mount_args *a)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    memset(a, 0, sizeof *a);
    a->threads = (int)cfg->mount_threads;
    a->foreground = cfg->mount_foreground;
    snprintf(a->options, sizeof a->options, "%s", cfg->mount_options ? cfg->mount_options : "");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            return 1;
        if (strcmp(s, "--as") == 0 && i + 1 < argc) {
            char msg[256];
            if (dd_config_set(cfg, "users.mount_as", argv[++i], msg, sizeof msg) != 0) {
                fprintf(stderr, "deardiary mount: --as: %s\n", msg);
                return -1;
            }
        } else if (strcmp(s, "--cacert") == 0 && i + 1 < argc) {
            a->cacert = argv[++i];
        } else if (strcmp(s, "-f") == 0)
            a->foreground = true;
        else if (strcmp(s, "-d") == 0)
            a->foreground = a->debug = true;
        else if ((strcmp(s, "-o") == 0 || strcmp(s, "-t") == 0) && i + 1 < argc) {
            const char *val = argv[++i];
            if (s[1] == 't') {
                char msg[256];
                /* the same checks as mount.threads in a config file */
                if (dd_config_set(cfg, "mount.threads", val, msg, sizeof msg) != 0) {
                    fprintf(stderr, "deardiary mount: -t: %s\n", msg);
                    return -1;
                }
                a->threads = cfg->mount_threads;
            } else {
                size_t len = strlen(a->options);
                snprintf(a->options + len, sizeof a->options - len, "%s%s", len ? "," : "", val);
            }
        } else if (s[0] == '-') {
            fprintf(stderr, "deardiary mount: unknown option %s\n", s);
            return -1;
        } else if (npos < 2) {
            pos[npos++] = s;
        } else {
            fprintf(stderr, "deardiary mount: too many arguments\n");
            return -1;
        }
    }
    if (npos == 0) {
        fprintf(stderr, "deardiary mount: no mountpoint given\n");
        return -1;
    }
    a->mountpoint = pos[npos - 1];
    /* libfuse changes directory to / even in the foreground, and unmounts by path at exit */
    if (!realpath(a->mountpoint, a->mnt_abs)) {
        if (errno != ENOTCONN) {
            fprintf(stderr, "deardiary mount: %s: %s (the mountpoint must be an existing "
                    "directory)\n", a->mountpoint, strerror(errno));
            return -2;   /* not a usage error: no usage text */
        }
        char cwd[2048] = "";          /* a dead mount: no realpath, join by hand */
        if (a->mountpoint[0] != '/' && !getcwd(cwd, sizeof cwd))
            return -1;
        snprintf(a->mnt_abs, sizeof a->mnt_abs, "%s%s%s", cwd, cwd[0] ? "/" : "",
                 a->mountpoint);
    }
    a->mountpoint = a->mnt_abs;
    a->db = npos == 2 ? pos[0] : cfg->db_file;
    a->remote = strncmp(a->db, "http://", 7) == 0 || strncmp(a->db, "https://", 8) == 0;
    if (a->remote && has_option(a->options, "allow_other")) {
        fprintf(stderr, "deardiary mount: a server's registry is mounted for one user (the"
                " one logged in): -o allow_other is refused\n");
        return -2;
    }
    if (a->db[0] != '/' && !dd_locator_is_uri(a->db)) {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd) ||
            (size_t)snprintf(a->db_abs, sizeof a->db_abs, "%s/%s", cwd, a->db) >=
                sizeof a->db_abs) {
            fprintf(stderr, "deardiary mount: cannot make %s absolute\n", a->db);
            return -1;
        }
        a->db = a->db_abs;
    }
    return 0;
}

/* Undo /proc/self/mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape_mountinfo(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = 0;
}

/* Whether `path` (absolute, resolved) is the mount point of a live mount; its type
 * ("fuse.deardiary", "ext4", ...) in fstype. Reads /proc/self/mountinfo. */
static bool is_mounted(const char *path, char *fstype, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        /* id parent major:minor root MOUNTPOINT options... - TYPE source superoptions */
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 1; field && i < 5; i++)
            field = strtok_r(NULL, " ", &save);
        if (!field)
            continue;
        unescape_mountinfo(field);
        if (strcmp(field, path) != 0)
            continue;
        found = true;
        const char *type = "unknown";
        while ((field = strtok_r(NULL, " ", &save)) && strcmp(field, "-") != 0) {
        }
        if (field && (field = strtok_r(NULL, " ", &save)))
            type = field;
        snprintf(fstype, len, "%s", type);
    }
    free(line);
    fclose(f);
    return found;
}

/* A daemon killed without unmounting leaves "Transport endpoint is not connected";
 * detach that dead mount so this one can take its place. */
static int recover_mountpoint(const char *mountpoint)
{
    struct stat st;
    struct statvfs sv;
    /* statfs is never answered from a cache: it tells a dead FUSE mount even when the
     * kernel still holds the root's attributes (a daemon restarted right away) */
    if (stat(mountpoint, &st) == 0 && statvfs(mountpoint, &sv) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "deardiary mount: %s is not a directory\n", mountpoint);
            return -1;
        }
        /* libfuse3 would stack a second mount on a live FUSE one (its daemon still
         * running, its files hidden): refuse, as a busy mountpoint. A directory that is
         * the mount point of a disk, tmpfs or volume is an ordinary place to mount. */
        char fstype[64];
        if (is_mounted(mountpoint, fstype, sizeof fstype) && strncmp(fstype, "fuse", 4) == 0) {
            fprintf(stderr, "deardiary mount: %s is busy: already mounted (%s); unmount it "
                    "first: fusermount3 -u %s\n", mountpoint, fstype, mountpoint);
            return -1;
        }
        return 0;
    }
    if (errno != ENOTCONN) {
        fprintf(stderr, "deardiary mount: %s: %s\n", mountpoint, strerror(errno));
        return -1;
    }
    fprintf(stderr, "deardiary mount: %s is a dead mount; unmounting it first\n", mountpoint);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "-z", mountpoint, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0 || stat(mountpoint, &st) != 0) {
        fprintf(stderr, "deardiary mount: could not recover %s; run fusermount3 -u %s\n",
                mountpoint, mountpoint);
        return -1;
    }
    return 0;
}

/* Metric appends through the mount are group-committed (backend/store/metric_log.c): a training
 * loop writing one point per write() would otherwise pay a transaction per point. */
static int start_metric_log(dd_store *st)
{
    dd_err err = {0};
    if (dd_metric_log_start(st, &err) != DD_OK) {
        fprintf(stderr, "deardiary: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Is `opt` one of the comma-separated options? */
static bool has_option(const char *options, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *s = options; s && *s;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == n && strncmp(s, opt, n) == 0)
            return true;
        s = end ? end + 1 : s + len;
    }
    return false;
}

typedef struct map_list {
    acc_map_entry items[64];   /* users.map holds at most 64 (config.c) */
    size_t n;
} map_list;

static int add_map_entry(void *ctx, unsigned uid, const char *name)
{
    map_list *l = ctx;
    if (l->n < sizeof l->items / sizeof l->items[0])
        l->items[l->n++] = (acc_map_entry){(uid_t)uid, (char *)name};
    return 0;
}

static void free_map(map_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].username);
}

static int dup_map_entry(void *ctx, unsigned uid, const char *name)
{
    char *copy = strdup(name);
    return copy ? add_map_entry(ctx, uid, copy) : 1;
}

/* A shared mount's checks (`-o allow_other`: other accounts reach the files), or NULL for
 * a single-user mount. *out NULL and 0 returned when not shared; -1 when out of memory. */
static int make_access(const mount_args *a, const dd_config *cfg, dd_access **out)
{
    *out = NULL;
    if (!has_option(a->options, "allow_other"))
        return 0;
    map_list l = {.n = 0};
    if (dd_config_users_map_each(cfg->users_map, dup_map_entry, &l) != 0) {
        free_map(&l);
        return -1;
    }
    acc_options o = {
        .mount_uid = getuid(), .mount_as = cfg->users_mount_as,
        .unknown_read = strcmp(cfg->users_unknown, "read") == 0,
        .map = l.items, .n_map = l.n,
    };
    *out = acc_new(&o);
    free_map(&l);
    return *out ? 0 : -1;
}

/* On a shared mount the mounting account acts as users.mount_as: it must exist. */
static int check_mount_as(const mount_args *a, const dd_config *cfg, dd_store *st)
{
    if (!has_option(a->options, "allow_other"))
        return 0;
    dd_user u;
    dd_err err = {0};
    if (dd_user_find(st, cfg->users_mount_as, &u, &err) != DD_OK) {
        fprintf(stderr, "deardiary mount: --as: %s\n", err.msg);
        return -1;
    }
    dd_user_clear(&u);
    return 0;
}

/* The store of the mount: the database's, or the server's (no metric log but the node
 * journal, remote/rstore_metrics.h; its artifact stores read from and upload to the
 * server, remote/rstore_artifacts.h). */
static int open_mount_store(const mount_args *a, const dd_config *cfg,
                            const dd_url_opener *urls, dd_store **st, dd_artifacts **arts)
{
    if (a->remote)
        return urls->open(a->db, a->cacert, 0.5, st) != 0 ||
                       urls->open_artifacts(*st, a->cacert, cfg, arts) != 0 ||
                       urls->start(*st, a->cacert, cfg->remote_journal_dir,
                                   cfg->remote_journal_max) != 0
                   ? -1 : 0;
    if (dd_cmd_open_store(cfg, a->db, st) != 0 || dd_cmd_open_artifacts(cfg, *st, arts) != 0 ||
        start_metric_log(*st) != 0)
        return -1;
    return 0;
}

/* glibc serves a block of at least M_MMAP_THRESHOLD with its own mapping, returned to the
 * system at free; but it raises the threshold to the size of each such block freed (up
 * to 32 MB), after which a big listing's snapshot (fuse_ll.c: 17 MB for 100k entries)
 * comes from a worker's arena and stays resident after releasedir. Setting the
 * threshold fixes it, so a daemon's memory falls back after every large listing or
 * rendering: `ls -l` of 100k iterations left 59 MB resident, now ~12 MB. Blocks below
 * 4 MiB (write buffers, rows) stay in the arenas, as they were. */
static void keep_big_blocks_out_of_arenas(void)
{
    if (mallopt(M_MMAP_THRESHOLD, 4 << 20) != 1)
        syslog(LOG_WARNING, "mallopt(M_MMAP_THRESHOLD) refused: large listings stay resident");
}

static int run_session(const mount_args *a, const dd_config *cfg, const dd_url_opener *urls)
{
    /* the database path stays out of the option string: a comma in it would split it */
    char *opts = NULL;
    if (asprintf(&opts, "-ofsname=deardiary,subtype=deardiary%s%s", a->options[0] ? "," : "",
                 a->options) < 0)
        return 1;
    char *argv[] = {"deardiary", opts, a->debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(a->debug ? 3 : 2, argv);
    struct fuse_session *se = NULL;
    dd_store *st = NULL;
    dd_artifacts *arts = NULL;
    vfs_options vo = {.close_waits = strcmp(cfg->metrics_close_waits, "commit") == 0
                                         ? VFS_CLOSE_WAITS_COMMIT
                                     : strcmp(cfg->metrics_close_waits, "journal") == 0
                                         ? VFS_CLOSE_WAITS_JOURNAL
                                         : VFS_CLOSE_WAITS_ENGINE};
    vfs *v = vfs_new(NULL, NULL, &vo);
    dd_fuse_ctx fc = {.v = v, .place = cfg->mount_follow_writer ? dd_placement_new() : NULL,
                      .modes = a->remote ? acc_rights_mode : NULL};
    int rc = 1;
    bool fc_made = dd_fuse_ctx_init(&fc) == 0;
    /* session and mount first, so that a bad -o option or mountpoint is reported on the
     * terminal; the store is opened after the fork (SQLite state must not cross it) */
    if (!v || !fc_made || (cfg->mount_follow_writer && !fc.place) ||
        make_access(a, cfg, &fc.acc) != 0)
        goto out;
    vfs_keep_attrs(v, fc.acc == NULL);   /* shared: every stat asks the store (fuse_ll.c) */
    se = fuse_session_new(&args, dd_fuse_ops(), sizeof *dd_fuse_ops(), &fc);
    if (!se)
        goto out;
    if (fuse_set_signal_handlers(se) != 0)
        goto out;
    if (fuse_session_mount(se, a->mountpoint) != 0)
        goto out_signals;
    if (fuse_daemonize(a->foreground) != 0)
        goto out_unmount;
    if (open_mount_store(a, cfg, urls, &st, &arts) != 0)
        goto out_unmount;
    vfs_attach(v, st, arts);
    keep_big_blocks_out_of_arenas();
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, (unsigned)a->threads);
    /* the loop returns the signal's number when SIGTERM, SIGINT or SIGHUP ended it: a
     * shutdown asked for, and done (a service manager's stop is not a failure); a
     * negative errno when reading /dev/fuse failed */
    rc = fuse_session_loop_mt(se, lc) >= 0 ? 0 : 1;
    fuse_loop_cfg_destroy(lc);
out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out:
    if (se)
        fuse_session_destroy(se);
    if (fc_made)
        dd_fuse_ctx_end(&fc);
    vfs_free(v);
    dd_placement_free(fc.place);
    acc_free(fc.acc);
    dd_artifacts_close(arts);
    dd_store_close(st);
    fuse_opt_free_args(&args);
    free(opts);
    return rc;
}

int dd_cmd_mount(const char *config_file, int argc, char **argv)
{
    return dd_cmd_mount_urls(config_file, argc, argv, NULL);
}

/* The database, checked before becoming a daemon: sound, its mount_as user, its
 * artifact stores. */
static int check_database(const mount_args *a, const dd_config *cfg, dd_store **st,
                          dd_artifacts **arts)
{
    int rc = dd_cmd_open_store(cfg, a->db, st);
    if (rc == 0)
        rc = dd_cmd_check_store(*st, a->db);
    if (rc == 0)
        rc = check_mount_as(a, cfg, *st);
    if (rc == 0)
        rc = dd_cmd_open_artifacts(cfg, *st, arts);
    return rc;
}

/* A server's registry, checked before becoming a daemon (reachable, /v1, the token). */
static int check_remote(const mount_args *a, const dd_url_opener *urls)
{
    if (!urls) {
        fprintf(stderr, "deardiary mount: %s: this build cannot mount a server\n", a->db);
        return -1;
    }
    dd_store *st = NULL;
    int rc = urls->open(a->db, a->cacert, 0.5, &st);
    dd_store_close(st);
    return rc;
}

int dd_cmd_mount_urls(const char *config_file, int argc, char **argv,
                      const dd_url_opener *urls)
{
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    mount_args a;
    int prc = parse_mount_args(argc, argv, &cfg, &a);
    if (prc != 0) {
        if (prc != -2)
            mount_usage(prc > 0 ? stdout : stderr);
        dd_config_free(&cfg);
        return prc > 0 ? 0 : prc == -2 ? 1 : 2;
    }
    /* The mountpoint first: a missing or busy one must not create the database. Then
     * report a bad database here, on the terminal, before becoming a daemon. */
    dd_store *st = NULL;
    dd_artifacts *arts = NULL;
    int rc = recover_mountpoint(a.mountpoint);
    if (rc == 0 && a.remote)
        rc = check_remote(&a, urls);
    else if (rc == 0)
        rc = check_database(&a, &cfg, &st, &arts);
    dd_artifacts_close(arts);
    dd_store_close(st);
    if (rc == 0) {
        openlog("deardiary", LOG_PID | (a.foreground ? LOG_PERROR : 0), LOG_DAEMON);
        rc = run_session(&a, &cfg, urls);
        closelog();
    }
    dd_config_free(&cfg);
    return rc == 0 ? 0 : 1;
}
