/*
 * test_reqlog.c - the request log's buffer (server/reqlog.c), on a real pipe.
 *
 * (a) lines are held until a flush, then all written, in order, whole
 * (b) a line that does not fit writes the gathered ones first; a line longer than the
 *     whole buffer is written on its own, complete
 * (c) a failed write (the pipe's reader gone) loses those lines without crashing, and the
 *     log goes on: lines added after the failure reach a working descriptor
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "reqlog.h"

/* Everything in the pipe now (non-blocking read), NUL-terminated, in buf. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return len;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; (s = strchr(s, '\n')); s++)
        n++;
    return n;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static char buf[1 << 20];
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK) == 0);
    fcntl(p[1], F_SETFL, 0);   /* the writer blocks, as stderr does */
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    dd_reqlog *l = malloc(sizeof *l);
    dd_reqlog_init(l, p[1]);

    /* (a) */
    dd_reqlog_line(l, "GET", "/health", 200, 12);
    dd_reqlog_line(l, "POST", "/metric/iteration/1/batch", 201, 3456);
    CHECK(drain(p[0], buf, sizeof buf) == 0);
    dd_reqlog_flush(l);
    drain(p[0], buf, sizeof buf);
    CHECK_STR(buf, "deardiary serve: GET /health 200 12us\n"
                   "deardiary serve: POST /metric/iteration/1/batch 201 3456us\n");

    /* (b) */
    int many = 0;
    while (drain(p[0], buf, sizeof buf) == 0 && many < 10000)
        dd_reqlog_line(l, "GET", "/project/1", 200, many++);
    CHECK(many > 100 && many < 10000);   /* the buffer filled and was written */
    CHECK(count_lines(buf) == (size_t)many - 1);
    dd_reqlog_flush(l);
    drain(p[0], buf, sizeof buf);
    CHECK(count_lines(buf) == 1);
    char *long_url = malloc(DD_REQLOG_BUF * 2);
    memset(long_url, 'x', DD_REQLOG_BUF * 2 - 1);
    long_url[0] = '/', long_url[DD_REQLOG_BUF * 2 - 1] = '\0';
    dd_reqlog_line(l, "GET", "/before", 404, 1);
    dd_reqlog_line(l, "GET", long_url, 404, 2);
    size_t got = drain(p[0], buf, sizeof buf);
    CHECK(count_lines(buf) == 2 && got > DD_REQLOG_BUF * 2);
    CHECK(strncmp(buf, "deardiary serve: GET /before 404 1us\n", 37) == 0);
    CHECK(strcmp(buf + got - 10, "x 404 2us\n") == 0);
    free(long_url);

    /* (c) */
    dd_reqlog_line(l, "GET", "/lost", 200, 1);
    close(p[0]);
    dd_reqlog_flush(l);
    CHECK(l->failing && l->lost == 1);
    int q[2];
    CHECK(pipe2(q, O_NONBLOCK) == 0);
    dup2(q[1], p[1]);   /* the same descriptor number writes somewhere again */
    dd_reqlog_line(l, "GET", "/after", 200, 2);
    dd_reqlog_destroy(l);
    drain(q[0], buf, sizeof buf);
    CHECK_STR(buf, "deardiary serve: GET /after 200 2us\n");
    CHECK(!l->failing && l->lost == 0);
    free(l);
    close(p[1]), close(q[0]), close(q[1]);
    return check_done();
}
