/* status-api: what pxeforge-server answers under the appliance's reserved HTTP path
 * (PXF_API_PREFIX): the status page and its script and style, the boot timeline as JSON
 * (api/machines) and as a table (api/machines.txt, what `pxeforge status` prints), the
 * served build (api/build), Prometheus metrics (metrics), and the one thing a client may
 * send, a booted system's report (POST api/report).
 *
 * What it owns: nothing; it borrows the timeline, the reports and the servers, whose
 * owner (server.c) sets them before the HTTP server starts and clears them as it stops.
 * Its two functions are struct httpd_api's, with a struct status_api as their ctx.
 */
#pragma once
#include <stddef.h>

struct evbuffer;
struct httpd;
struct reports;
struct router;
struct sockaddr;
struct tftpd;
struct timeline;

struct status_api {
        struct timeline *timeline;
        struct reports *reports;
        struct tftpd *tftpd;   /* NULL: not serving TFTP */
        struct httpd *httpd;   /* set once it runs */
        const char *root;      /* the served folder, as this process sees it */
        const char *name;      /* what is served, as the appliance names it; may be NULL */
        struct router *router; /* each machine's build (routing.h); NULL: one for all */
};

/* A machine that is not booted and was silent this long is shown as stalled. */
#define STATUS_STALL_USEC (120u * 1000000u)

/* struct httpd_api's answer (GET, HEAD) and receive (POST). */
int status_api_answer(void *ctx, const char *path, struct evbuffer *body,
                      const char **content_type);
int status_api_receive(void *ctx, const char *path, const struct sockaddr *peer, size_t peer_len,
                       const char *body, size_t len, struct evbuffer *out,
                       const char **content_type);
