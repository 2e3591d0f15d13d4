/*
 * http.c - see http.h.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    free(url);
    if (auth)
        explicit_bzero(auth, strlen(auth));
    free(auth);
    curl_slist_free_all(hdrs);
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
