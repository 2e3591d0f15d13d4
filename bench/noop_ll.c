/*
 * noop_ll.c - the ceiling of one FUSE round trip per write() on this machine: a libfuse
 * low-level filesystem (the shape of libfuse's hello_ll.c) whose root holds one file,
 * "points", that accepts every write and keeps nothing. Whatever rate a writer gets here
 * is the most any FUSE filesystem can give it with libfuse's multithreaded loop (run here
 * exactly as passthrough_ll runs it), so
 * bench/run.sh prints it next to ours. Benchmark baseline only; never installed.
 *
 *   noop_ll MOUNTPOINT -f
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ROOT_INO 1
#define FILE_INO 2
#define FILE_NAME "points"

static void noop_stat(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == ROOT_INO) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0666;
        st->st_nlink = 1;
    }
}

static void noop_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (parent != ROOT_INO || strcmp(name, FILE_NAME) != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = FILE_INO;
    e.attr_timeout = e.entry_timeout = 1.0;
    noop_stat(FILE_INO, &e.attr);
    fuse_reply_entry(req, &e);
}

static void noop_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct stat st;
    noop_stat(ino, &st);
    fuse_reply_attr(req, &st, 1.0);
}

/* O_TRUNC and friends: nothing to change, the file is always empty */
static void noop_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                         struct fuse_file_info *fi)
{
    (void)attr;
    (void)to_set;
    noop_getattr(req, ino, fi);
}

static void noop_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != FILE_INO) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->direct_io = 1;   /* like our metric files: every write() is a request */
    fuse_reply_open(req, fi);
}

static void noop_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                       off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    (void)buf;
    (void)off;
    (void)fi;
    fuse_reply_write(req, size);
}

static const struct fuse_lowlevel_ops noop_ops = {
    .lookup = noop_lookup,
    .getattr = noop_getattr,
    .setattr = noop_setattr,
    .open = noop_open,
    .write = noop_write,
};

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts opts;
    int rc = 1;
    if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) {
        fprintf(stderr, "usage: %s MOUNTPOINT -f\n", argv[0]);
        return 1;
    }
    struct fuse_session *se = fuse_session_new(&args, &noop_ops, sizeof noop_ops, NULL);
    if (se && fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, opts.mountpoint) == 0) {
            /* the loop exactly as passthrough_ll runs it */
            struct fuse_loop_config config = {
                .clone_fd = opts.clone_fd, .max_idle_threads = opts.max_idle_threads,
            };
            rc = fuse_session_loop_mt(se, &config) == 0 ? 0 : 1;
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    if (se)
        fuse_session_destroy(se);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return rc;
}
