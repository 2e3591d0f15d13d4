/*
 * test_read_release.c - a read a remote mount answers from its reader's own window
 * (fs/vfs.h vfs_read_with: FUSE's reply is written from that memory) lets the kernel
 * release the handle as soon as it has the reply: the RELEASE may run on another daemon
 * thread before the replying one has returned through the reader. CI met it as an ASan
 * heap-use-after-free (a `dd` of a resource over a remote mount). Here `take` releases
 * the handle itself, the earliest the kernel could, so the old order fails every time
 * under ASan (build-asan) and valgrind's memcheck, not one run in a hundred.
 *
 * Against a real `deardiary serve` (the built binary, DD_TEST_BIN; auth on, 127.0.0.1, a
 * free port) over a real SQLite registry holding one 3 MiB resource:
 * (a) a read whose `take` releases the handle: the bytes handed over are the resource's,
 *     and the read still returns 1 (the handle is freed after it, by the read)
 * (b) reads that do not release, then a release: as before (the bytes, then freed once)
 * (c) a read the window cannot answer (longer than it holds ahead) takes nothing and
 *     returns 0, and the handle stays usable for the copying read that follows
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "artifacts.h"
#include "check.h"
#include "check_vfs.h"
#include "rstore.h"
#include "rstore_artifacts.h"
#include "server.h"
#include "vfs.h"

#define SECRET "test-read-release-secret"
#define SIZE (3 * 1024 * 1024 + 17)
#define PATH "projects/p/experiments/e/resources/w.bin"

static unsigned char data[SIZE];

/* The registry the server serves: project p, experiment e, resource w.bin (inline). */
static void make_registry(const char *db)
{
    dd_err err = {0};
    dd_store *st = NULL;
    dd_artifacts *a = NULL;
    dd_upload *u = NULL;
    int64_t proj = 0, exp = 0, id = 0;
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    CHECK_CODE(dd_store_open(db, NULL, &st, &err), DD_OK, &err);
    CHECK_CODE(dd_project_create(st, 0, "p", &proj, &err), DD_OK, &err);
    CHECK_CODE(dd_experiment_create(st, proj, "e", &exp, &err), DD_OK, &err);
    dd_artifacts_config cfg = {0};
    CHECK_CODE(dd_artifacts_open(st, &cfg, &a, &err), DD_OK, &err);
    CHECK_CODE(dd_upload_begin(a, &u, &err), DD_OK, &err);
    CHECK_CODE(dd_upload_write(u, data, SIZE, &err), DD_OK, &err);
    CHECK_CODE(dd_upload_commit(u, exp, "w.bin", false, &id, &err), DD_OK, &err);
    dd_upload_free(u);
    dd_artifacts_close(a);
    dd_store_close(st);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &len) != 0) {
        perror("free_port");
        exit(1);
    }
    close(s);
    return ntohs(sa.sin_port);
}

/* `deardiary serve` on 127.0.0.1:port, its output in log; its pid. */
static pid_t start_server(const char *db, int port, const char *dir)
{
    const char *bin = getenv("DD_TEST_BIN");
    if (!bin) {
        fprintf(stderr, "DD_TEST_BIN is not set (the built deardiary)\n");
        exit(1);
    }
    char portstr[16], log[4200], root[4200];
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    snprintf(root, sizeof root, "%s/artifacts", dir);
    pid_t pid = fork();
    if (pid == 0) {
        /* the server goes with the test, even when the test dies first (a sanitizer's
         * abort, a failed CHECK's crash): nothing is left listening */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("DEARDIARY_ENABLE_AUTH", "true", 1);
        setenv("DEARDIARY_JWT_SECRET", SECRET, 1);
        setenv("DEARDIARY_ARTIFACT_FS_ROOT", root, 1);
        execl(bin, bin, "serve", "--db", db, "--host", "127.0.0.1", "--port", portstr,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The remote store of the server at url, once it answers (30 s at most). */
static dd_store *open_remote(const char *url, pid_t server)
{
    dd_remote_options o = {0};
    for (int i = 0; i < 600; i++) {
        dd_store *st = NULL;
        dd_err err = {0};
        if (dd_remote_store_open(url, &o, &st, &err) == DD_OK)
            return st;
        if (waitpid(server, NULL, WNOHANG) == server) {
            fprintf(stderr, "deardiary serve exited: see serve.log\n");
            return NULL;
        }
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "deardiary serve did not answer in 30 s\n");
    return NULL;
}

typedef struct taken {
    vfs *v;
    vfs_file *f;
    int64_t off;
    size_t len;
    bool same;           /* the runs are the resource's bytes at off */
    bool release;        /* release the handle in take, as the kernel may */
    int calls;
} taken;

static void take(void *ctx, const struct iovec *iov, int n)
{
    taken *t = ctx;
    t->calls++;
    t->same = true;
    t->len = 0;
    for (int i = 0; i < n; i++) {
        if (t->off + (int64_t)(t->len + iov[i].iov_len) > SIZE ||
            memcmp(iov[i].iov_base, data + t->off + t->len, iov[i].iov_len) != 0)
            t->same = false;
        t->len += iov[i].iov_len;
    }
    if (t->release)
        CHECK(vfs_release(t->v, t->f) == 0);
}

static vfs_file *open_file(vfs *v, uint64_t ino)
{
    vfs_file *f = NULL;
    vfs_open_info info = {0};
    CHECK(vfs_open(v, ino, O_RDONLY, &f, &info) == 0);
    return f;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("DD_TEST_TMP") ? getenv("DD_TEST_TMP") : "/tmp";
    char dir[4096], db[4200], cache[4200], url[64], *token;
    snprintf(dir, sizeof dir, "%s/read_release.%d", tmp, (int)getpid());
    mkdir(tmp, 0700);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(db, sizeof db, "%s/reg.db", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    make_registry(db);
    int port = free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    pid_t server = start_server(db, port, dir);
    token = dd_jwt_sign("default", 1, (int64_t)time(NULL) + 3600, SECRET);
    setenv("DEARDIARY_TOKEN", token, 1);
    dd_store *st = open_remote(url, server);
    CHECK(st != NULL);
    if (!st) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        return check_done();
    }
    dd_artifacts *arts = NULL;
    dd_err err = {0};
    dd_remote_artifacts_options ao = {.cache_dir = cache, .cache_max = 0};
    CHECK_CODE(dd_remote_artifacts_open(st, &ao, &arts, &err), DD_OK, &err);
    vfs *v = vfs_new(st, arts, NULL);
    uint64_t ino = check_walk(v, PATH);
    CHECK(ino != 0);

    /* (a) */
    taken t = {.v = v, .f = open_file(v, ino), .off = 1000, .release = true};
    CHECK(vfs_read_with(v, t.f, t.off, 4096, take, &t) == 1);
    CHECK(t.calls == 1 && t.len == 4096 && t.same);

    /* (b) */
    taken u = {.v = v, .f = open_file(v, ino), .off = 0};
    for (int i = 0; i < 3; i++, u.off += 131072) {
        CHECK(vfs_read_with(v, u.f, u.off, 131072, take, &u) == 1);
        CHECK(u.len == 131072 && u.same);
    }
    u.off = SIZE - 10;
    CHECK(vfs_read_with(v, u.f, u.off, 4096, take, &u) == 1);
    CHECK(u.calls == 4 && u.len == 10 && u.same);
    CHECK(vfs_release(v, u.f) == 0);

    /* (c) */
    taken w = {.v = v, .f = open_file(v, ino), .off = 0};
    CHECK(vfs_read_with(v, w.f, 0, (8 << 20) + 1, take, &w) == 0);   /* > its 8 MiB */
    CHECK(w.calls == 0);
    dd_buf out = {0};
    CHECK(vfs_read(v, w.f, 5, 65536, &out) == 0);
    CHECK(out.len == 65536 && memcmp(out.data, data + 5, 65536) == 0);
    dd_buf_free(&out);
    CHECK(vfs_release(v, w.f) == 0);

    vfs_free(v);
    dd_artifacts_close(arts);
    dd_store_close(st);
    explicit_bzero(token, strlen(token));
    free(token);
    kill(server, SIGTERM);
    int status = 0;
    CHECK(waitpid(server, &status, 0) == server);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return check_done();
}
