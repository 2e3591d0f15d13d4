/*
 * serve_cmd.c - `deardiary serve [--db DB] [--host H] [--port P] [--tls-cert F --tls-key F]`:
 * the REST API of the original on the store a mount uses, until SIGINT or SIGTERM.
 *
 * Refuses to start (exit 1, one line on stderr) when auth is enabled with the default
 * secret, as the original does.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "server.h"

#define DEFAULT_SECRET "deardiary_secret"

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: deardiary serve [--db DB] [--host HOST] [--port PORT]\n"
            "                       [--tls-cert FILE --tls-key FILE]\n"
            "\n"
            "Serve the REST API of DearDiary on the database (default 127.0.0.1:9000).\n"
            "Configuration: server.* keys, DEARDIARY_HOST, DEARDIARY_PORT,\n"
            "DEARDIARY_ENABLE_AUTH, DEARDIARY_JWT_SECRET, DEARDIARY_TOKEN_TTL,\n"
            "DEARDIARY_CORS_ORIGINS.\n");
}

typedef struct serve_opts {
    const char *db, *tls_cert, *tls_key;
} serve_opts;

/* Options over the loaded configuration; 0, 1 (error printed) or 2 (usage). */
static int parse_options(int argc, char **argv, dd_config *cfg, serve_opts *o)
{
    char msg[512];
    for (int i = 1; i < argc; i += 2) {   /* every option takes a value */
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        const char *key = strcmp(a, "--host") == 0 ? "server.host"
                          : strcmp(a, "--port") == 0 ? "server.port" : NULL;
        if (!val || a[0] != '-' || a[1] != '-')
            return 2;
        if (key && dd_config_set(cfg, key, val, msg, sizeof msg) != 0) {
            fprintf(stderr, "deardiary serve: %s\n", msg);
            return 1;
        }
        if (!key && strcmp(a, "--db") == 0)
            o->db = val;
        else if (!key && strcmp(a, "--tls-cert") == 0)
            o->tls_cert = val;
        else if (!key && strcmp(a, "--tls-key") == 0)
            o->tls_key = val;
        else if (!key)
            return 2;
    }
    return 0;
}

/* The CORS origin header value: "*" when listed, else the trimmed list joined by ", ". */
static char *cors_origin(const char *list, bool *credentials)
{
    char *out = calloc(1, strlen(list) * 2 + 2), *copy = strdup(list);
    *credentials = true;
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; out && t;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            t[--n] = '\0';
        if (strcmp(t, "*") == 0) {
            strcpy(out, "*");
            *credentials = false;
            break;
        }
        if (n)
            strcat(strcat(out, *out ? ", " : ""), t);
    }
    free(copy);
    return out;
}

/*
 * glibc's allocator, bounded for a server of many threads. By default each thread that
 * allocates while another holds its arena gets an arena of its own, up to 8 per core, and
 * an arena keeps what was freed inside it; memory freed above the dynamic mmap threshold,
 * which rises to the largest block freed so far, is kept too. With 16 workers and 32
 * writer threads, each worker that had served one large answer (a 10,000-entry listing)
 * kept its peak: 104 MiB for bench/remote_ls.sh, over the 64 MB target (BENCHMARKS.md,
 * "serve memory"). Four arenas and a fixed threshold (blocks of 128 KiB and more are
 * mapped on their own and unmapped when freed) keep the peak near what is live at once.
 */
#define SERVE_ARENAS 4
#define SERVE_MMAP_THRESHOLD (128 * 1024)
static void bound_allocator(void)
{
    mallopt(M_ARENA_MAX, SERVE_ARENAS);
    mallopt(M_MMAP_THRESHOLD, SERVE_MMAP_THRESHOLD);
}

/* Serve until SIGINT or SIGTERM. */
static int run(dd_server *srv, const dd_config *cfg, const serve_opts *o)
{
    char msg[512];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* before MHD's threads exist: they inherit it */
    signal(SIGPIPE, SIG_IGN);
    bound_allocator();   /* before the threads: arenas are taken as threads first allocate */
    if (dd_http_start(srv, cfg->server_host, cfg->server_port, cfg->server_max_connections,
                      cfg->server_threads, o->tls_cert, o->tls_key, msg, sizeof msg) != 0) {
        fprintf(stderr, "deardiary serve: %s\n", msg);
        return 1;
    }
    fprintf(stderr, "deardiary serve: listening on http%s://%s:%d (auth %s)\n",
            o->tls_cert ? "s" : "", cfg->server_host, cfg->server_port,
            srv->auth ? "enabled" : "disabled");
    int sig;
    sigwait(&set, &sig);
    dd_http_stop(srv);
    return 0;
}

int dd_cmd_serve(const char *config_file, int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        return serve_usage(stdout), 0;
    dd_config cfg;
    if (dd_cmd_load_config(&cfg, config_file) != 0)
        return 1;
    serve_opts o = {0};
    int rc = parse_options(argc, argv, &cfg, &o);
    if (rc == 0 && cfg.server_enable_auth && strcmp(cfg.server_jwt_secret, DEFAULT_SECRET) == 0) {
        fprintf(stderr, "deardiary serve: auth is enabled with the default JWT secret; set "
                        "server.jwt_secret (DEARDIARY_JWT_SECRET)\n");
        rc = 1;
    }
    if (rc == 0 && !o.tls_cert != !o.tls_key)
        rc = 2;
    if (rc == 2)
        serve_usage(stderr);
    const char *path = o.db ? o.db : cfg.db_file;
    dd_server srv = {.auth = cfg.server_enable_auth, .jwt_secret = cfg.server_jwt_secret,
                     .token_ttl_s = cfg.server_token_ttl,
                     .header_timeout_s = cfg.server_header_timeout,
                     .log_info = strcmp(cfg.log_level, "info") == 0
                                 || strcmp(cfg.log_level, "debug") == 0};
    if (rc == 0 && (dd_cmd_open_store(&cfg, path, &srv.st) != 0
                    || dd_cmd_check_store(srv.st, path) != 0
                    || dd_cmd_open_artifacts(&cfg, srv.st, &srv.art) != 0))
        rc = 1;
    if (rc == 0) {
        srv.cors_origin = cors_origin(cfg.server_cors_origins, &srv.cors_credentials);
        srv.series_cache = dd_series_cache_new();
        rc = srv.cors_origin ? run(&srv, &cfg, &o) : 1;
    }
    dd_series_cache_free(srv.series_cache);
    free(srv.cors_origin);
    dd_artifacts_close(srv.art);
    dd_store_close(srv.st);
    dd_config_free(&cfg);
    return rc;
}
