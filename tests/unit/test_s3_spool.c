/*
 * test_s3_spool.c - the s3 upload spool (backend/artifacts/art_s3_spool.c) on real files: the bytes
 * read back exactly and the hasher's sha256 is the bytes' own (odd write sizes, a hasher
 * racing the writer); the file has no name in the spool directory; a finished spool's file
 * is reused, cut to size, by the next one, whose bytes and hash are its own; a missing or
 * non-directory spool_dir and a failing write (RLIMIT_FSIZE, as a full disk would) are
 * DD_IO naming the directory and the reason, and a failed file is not kept.
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "art_s3_int.h"
#include "check.h"

static char g_dir[1100];

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
}

static void sha_hex(const unsigned char *p, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void final_hex(EVP_MD_CTX *md, char hex[65])
{
    unsigned char out[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(md, out, &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Write `n` bytes of `data` in uneven pieces, then check bytes, hash and namelessness. */
static void spool_round(s3_spool_pool *pool, const unsigned char *data, size_t n)
{
    dd_err e = {0};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    s3_spool *sp = NULL;
    CHECK_CODE(s3_spool_open(pool, g_dir, md, &sp, &e), DD_OK, &e);
    if (!sp) {
        EVP_MD_CTX_free(md);
        return;
    }
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        CHECK_CODE(s3_spool_write(sp, data + off, k, &e), DD_OK, &e);
        off += k;
        step = step * 7 % 1048573 + 1;          /* 1 byte to ~1 MiB */
    }
    struct stat st;
    CHECK(fstat(s3_spool_fd(sp), &st) == 0 && st.st_nlink == 0);   /* no name anywhere */
    CHECK(entries(g_dir) == 0);
    CHECK_CODE(s3_spool_hashed(sp, &e), DD_OK, &e);
    char want[65], got[65];
    sha_hex(data, n, want);
    final_hex(md, got);
    CHECK_STR(got, want);
    unsigned char *back = malloc(n + 1);
    CHECK(back != NULL);
    if (back) {
        CHECK_CODE(s3_spool_read(sp, back, n, 0, &e), DD_OK, &e);
        CHECK(memcmp(back, data, n) == 0);
        if (n > 10) {
            CHECK_CODE(s3_spool_read(sp, back, 7, (int64_t)n - 10, &e), DD_OK, &e);
            CHECK(memcmp(back, data + n - 10, 7) == 0);
        }
        free(back);
    }
    s3_spool_close(sp);
    EVP_MD_CTX_free(md);
}

static void test_bytes_hash_and_reuse(void)
{
    s3_spool_pool pool;
    s3_spool_pool_init(&pool);
    size_t big = (3u << 20) + 5, small = 1000;
    unsigned char *a = malloc(big), *b = malloc(small);
    CHECK(a && b);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    fill(a, big, 1);
    fill(b, small, 2);
    spool_round(&pool, a, big);
    /* kept for the next upload, cut to the size of this one */
    struct stat st;
    CHECK(pool.idle_fd >= 0 && fstat(pool.idle_fd, &st) == 0 && st.st_size == (off_t)big);
    int kept = pool.idle_fd;
    /* the next, shorter upload writes over it: its own bytes and hash, no stale tail */
    spool_round(&pool, b, small);
    CHECK(pool.idle_fd == kept && fstat(kept, &st) == 0 && st.st_size == (off_t)small);
    /* an empty upload */
    spool_round(&pool, b, 0);
    CHECK(pool.idle_fd == kept && fstat(kept, &st) == 0 && st.st_size == 0);
    s3_spool_pool_destroy(&pool);
    CHECK(pool.idle_fd == -1 && entries(g_dir) == 0);
    free(a);
    free(b);
}

static void expect_open_error(const char *dir, const char *reason)
{
    s3_spool_pool pool;
    s3_spool_pool_init(&pool);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    s3_spool *sp = NULL;
    dd_err e = {0};
    CHECK_CODE(s3_spool_open(&pool, dir, md, &sp, &e), DD_IO, &e);
    CHECK(sp == NULL);
    CHECK(strstr(e.msg, dir) != NULL && strstr(e.msg, reason) != NULL &&
          strstr(e.msg, "artifacts.s3.spool_dir") != NULL);
    s3_spool_close(sp);
    s3_spool_pool_destroy(&pool);
    EVP_MD_CTX_free(md);
}

static void test_bad_dirs(void)
{
    char missing[1200], file[1200];
    snprintf(missing, sizeof missing, "%s/no-such-dir", g_dir);
    expect_open_error(missing, "No such file or directory");
    snprintf(file, sizeof file, "%s-file", g_dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    expect_open_error(file, "Not a directory");
    unlink(file);
}

/* A write the filesystem refuses (here the file size limit; ENOSPC takes the same path):
 * DD_IO with the reason; the pool's idle file is closed at once (its space may be what is
 * missing) and the failed file is closed, not kept for reuse. */
static void test_write_failure(void)
{
    s3_spool_pool pool;
    s3_spool_pool_init(&pool);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
    s3_spool *sp = NULL, *other = NULL;
    dd_err e = {0};
    CHECK_CODE(s3_spool_open(&pool, g_dir, md, &sp, &e), DD_OK, &e);
    EVP_MD_CTX *md2 = EVP_MD_CTX_new();
    CHECK_CODE(s3_spool_open(&pool, g_dir, md2, &other, &e), DD_OK, &e);
    s3_spool_close(other);                      /* now the pool's idle file */
    CHECK(pool.idle_fd >= 0);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1 << 20;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    size_t n = 3u << 20;
    unsigned char *buf = calloc(1, n);
    CHECK(buf != NULL);
    if (sp && buf) {
        CHECK_CODE(s3_spool_write(sp, buf, n, &e), DD_IO, &e);
        CHECK(strstr(e.msg, "File too large") != NULL && strstr(e.msg, g_dir) != NULL);
        CHECK(pool.idle_fd == -1);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    s3_spool_close(sp);
    CHECK(pool.idle_fd == -1);
    s3_spool_pool_destroy(&pool);
    EVP_MD_CTX_free(md);
    EVP_MD_CTX_free(md2);
    free(buf);
}

int main(void)
{
    const char *t = getenv("DD_TEST_TMP");
    char base[1000];
    snprintf(base, sizeof base, "%s", t ? t : "/tmp");
    mkdir(base, 0755);
    snprintf(g_dir, sizeof g_dir, "%s/s3-spool", base);
    mkdir(g_dir, 0700);
    CHECK(entries(g_dir) == 0);
    test_bytes_hash_and_reuse();
    test_bad_dirs();
    test_write_failure();
    rmdir(g_dir);
    return check_done();
}
