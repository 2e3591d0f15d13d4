/*
 * http.c - see http.h.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

struct dd_http {
    CURL *curl;
    char *base;
    char *cacert;
};

/* The answer being read. */
typedef struct reply_buf {
    char *data;
    size_t len, cap;
    bool too_big;
} reply_buf;

dd_http *dd_http_new(const char *base, const char *cacert)
{
    dd_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->curl = curl_easy_init();
    h->base = strdup(base);
    h->cacert = cacert ? strdup(cacert) : NULL;
    if (!h->curl || !h->base || (cacert && !h->cacert)) {
        dd_http_free(h);
        return NULL;
    }
    return h;
}

void dd_http_free(dd_http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->base);
    free(h->cacert);
    free(h);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    reply_buf *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n > DD_HTTP_REPLY_MAX) {
        b->too_big = true;
        return 0;   /* curl stops with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

/* The options every request gets: no redirects, http(s) only, bounded waits, the CA. */
static void set_common(dd_http *h, const char *url, reply_buf *b)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (h->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
}

/* Free what headers_for and the URL of a request took; the token header is wiped first. */
static void request_free(char *url, char *auth, struct curl_slist *hdrs)
{
    free(url);
    if (auth)
        explicit_bzero(auth, strlen(auth));
    free(auth);
    curl_slist_free_all(hdrs);
}

/* Build the header list (with `extra`, a whole "Name: value" line, when not NULL); NULL on
 * out-of-memory. The token header is wiped after use. */
static struct curl_slist *headers_for(const char *token, bool json_body, const char *extra,
                                      char **auth)
{
    struct curl_slist *l = curl_slist_append(NULL, "Accept: application/json");
    if (l && extra) {
        struct curl_slist *n = curl_slist_append(l, extra);
        l = n ? n : (curl_slist_free_all(l), NULL);
    }
    if (l && json_body) {
        struct curl_slist *n = curl_slist_append(l, "Content-Type: application/json");
        l = n ? n : (curl_slist_free_all(l), NULL);
    }
    *auth = NULL;
    if (l && token) {
        struct curl_slist *n = NULL;
        if (asprintf(auth, "Authorization: Bearer %s", token) >= 0)
            n = curl_slist_append(l, *auth);
        l = n ? n : (curl_slist_free_all(l), NULL);
    }
    return l;
}

int dd_http_json(dd_http *h, const char *method, const char *path, const char *token,
                 json_t *body, long *status, json_t **reply, char *msg, size_t msglen)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int ret = body && !text ? (snprintf(msg, msglen, "out of memory"), -1)
              : dd_http_send(h, method, path, token, NULL, text, status, reply, msg, msglen);
    /* the body may hold a password */
    if (text)
        explicit_bzero(text, strlen(text));
    free(text);
    return ret;
}

int dd_http_send(dd_http *h, const char *method, const char *path, const char *token,
                 const char *header, const char *text, long *status, json_t **reply,
                 char *msg, size_t msglen)
{
    *status = 0;
    *reply = NULL;
    char *url = NULL, *auth = NULL;
    reply_buf b = {0};
    int ret = -1;
    struct curl_slist *hdrs = headers_for(token, text != NULL, header, &auth);
    if (!hdrs || asprintf(&url, "%s%s", h->base, path) < 0) {
        snprintf(msg, msglen, "out of memory");
        url = NULL;
        goto out;
    }
    set_common(h, url, &b);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    if (text)
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, text);
    CURLcode rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        snprintf(msg, msglen, "cannot reach %s: %s", h->base,
                 b.too_big ? "the answer is too large" : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
    if (b.len)
        *reply = json_loadb(b.data, b.len, 0, NULL);
    ret = 0;
out:
    /* the answer may hold a token */
    if (b.data)
        explicit_bzero(b.data, b.len);
    free(b.data);
    request_free(url, auth, hdrs);
    return ret;
}

void dd_http_error_text(long status, json_t *reply, char *msg, size_t msglen)
{
    const char *code = json_string_value(json_object_get(reply, "code"));
    const char *message = json_string_value(json_object_get(reply, "message"));
    if (code && message)
        snprintf(msg, msglen, "%.60s: %.200s", code, message);
    else
        snprintf(msg, msglen, "HTTP %ld", status);
}

/* ---------------------------------------------------------------- bytes */

/* A bytes transfer: the answer's status decides where the body goes. */
typedef struct bytes_get {
    CURL *curl;
    dd_http_sink sink;
    dd_http_head head;
    void *ctx;
    long status;            /* 0 until the first body byte */
    int64_t range_total;    /* from Content-Range, -1 none */
    bool stopped;
    reply_buf err;          /* a non-2xx answer's body */
} bytes_get;

static bool digits(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int dd_content_range_parse(const char *s, size_t len, int64_t *first, int64_t *last,
                           int64_t *total)
{
    if (len < 8 || memcmp(s, "bytes ", 6) != 0)
        return -1;
    const char *p = s + 6, *end = s + len;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    int64_t a = -1, b = -1, t;
    if (!slash || !digits(slash + 1, (size_t)(end - slash - 1), &t))
        return -1;
    if (slash - p == 1 && *p == '*') {
        *first = *last = -1, *total = t;
        return 0;
    }
    const char *dash = memchr(p, '-', (size_t)(slash - p));
    if (!dash || !digits(p, (size_t)(dash - p), &a) ||
        !digits(dash + 1, (size_t)(slash - dash - 1), &b) || a > b || b >= t)
        return -1;
    *first = a, *last = b, *total = t;
    return 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    bytes_get *g = ctx;
    size_t n = size * nmemb, k = strlen("content-range:");
    if ((n == 2 && ptr[0] == '\r') || (n == 1 && ptr[0] == '\n')) {   /* the headers' end */
        long status = 0;
        curl_off_t cl = -1;
        curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
            curl_easy_getinfo(g->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (g->head && status >= 200)
            g->head(g->ctx, status, status == 200 ? (int64_t)cl : g->range_total);
        return n;
    }
    if (n > k && strncasecmp(ptr, "content-range:", k) == 0) {
        const char *v = ptr + k, *e = ptr + n;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            e--;
        int64_t a, b, t;
        if (dd_content_range_parse(v, (size_t)(e - v), &a, &b, &t) == 0)
            g->range_total = t;
    }
    return n;
}

static size_t on_bytes(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    bytes_get *g = ctx;
    size_t n = size * nmemb;
    if (!g->status)
        curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &g->status);
    if (g->status != 200 && g->status != 206) {   /* an error answer: keep its start */
        size_t room = g->err.len < 4096 ? 4096 - g->err.len : 0;
        return on_data(ptr, 1, n < room ? n : room, &g->err) == (n < room ? n : room) ? n : 0;
    }
    if (g->sink(g->ctx, ptr, n) != 0) {
        g->stopped = true;
        return 0;
    }
    return n;
}

int dd_http_get_bytes(dd_http *h, const char *path, const char *token, int64_t first,
                      int64_t last, dd_http_head head, dd_http_sink sink, void *ctx,
                      long *status, int64_t *total, char *msg, size_t msglen)
{
    *status = 0;
    *total = -1;
    bytes_get g = {.curl = h->curl, .sink = sink, .head = head, .ctx = ctx,
                   .range_total = -1};
    char *url = NULL, *auth = NULL, range[64];
    int ret = -1;
    struct curl_slist *hdrs = headers_for(token, false, NULL, &auth);
    if (!hdrs || asprintf(&url, "%s%s", h->base, path) < 0) {
        snprintf(msg, msglen, "out of memory");
        url = NULL;
        goto out;
    }
    set_common(h, url, &g.err);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &g);
    curl_easy_setopt(h->curl, CURLOPT_BUFFERSIZE, 512L * 1024);   /* fewer, larger pieces */
    if (first >= 0) {
        if (last >= 0)
            snprintf(range, sizeof range, "%lld-%lld", (long long)first, (long long)last);
        else
            snprintf(range, sizeof range, "%lld-", (long long)first);
        curl_easy_setopt(h->curl, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(h->curl);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK) {
        snprintf(msg, msglen, "cannot read from %s: %s", h->base,
                 g.stopped ? "stopped" : curl_easy_strerror(rc));
        goto out;
    }
    if (*status != 200 && *status != 206) {
        json_t *reply = g.err.len ? json_loadb(g.err.data, g.err.len, 0, NULL) : NULL;
        dd_http_error_text(*status, reply, msg, msglen);
        json_decref(reply);
    }
    curl_off_t cl = -1;
    if (*status == 200 && curl_easy_getinfo(h->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                                            &cl) == CURLE_OK)
        *total = cl;
    else
        *total = g.range_total;
    ret = 0;
out:
    free(g.err.data);
    request_free(url, auth, hdrs);
    return ret;
}
