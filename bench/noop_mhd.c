/*
 * noop_mhd.c - the baseline of `bench/serve.sh health`: a libmicrohttpd server built the
 * way `deardiary serve` is (4 single-threaded daemons over epoll sharing the port with
 * SO_REUSEPORT, server/http.c) that answers every request with a fixed small JSON body
 * and does nothing else. Usage: noop_mhd PORT
 * (runs until SIGTERM). Compiled by bench/serve.sh into its temporary directory.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char BODY[] =
    "{\"app_name\":\"DearDiary\",\"package_version\":\"0.1.0\","
    "\"server_time\":\"2026-01-01T00:00:00.000Z\"}";

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(BODY), (void *)BODY,
                                                             MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d[4];
    for (int i = 0; i < 4; i++) {
        d[i] = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)atoi(argv[1]), NULL, NULL,
            answer, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_CONNECTION_LIMIT,
            2048u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
        if (!d[i])
            return 1;
    }
    int sig;
    sigwait(&set, &sig);
    for (int i = 0; i < 4; i++)
        MHD_stop_daemon(d[i]);
    return 0;
}
