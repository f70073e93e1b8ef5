/* httpd: the embedded HTTP/1.1 server that hands PXE artifacts (kernels, initrds,
 * squashfs images, ISOs, configs) to firmware, boot loaders and initramfs clients.
 *
 * It serves one directory, read-only: GET and HEAD of regular files, a single byte Range,
 * keep-alive with pipelining, always a Content-Length, never chunked, never a redirect or
 * a listing. The root path is resolved again for every request, so the builder may swap
 * a symlink to a new artifacts folder at any time; a response in flight keeps the file it
 * opened. Files are opened beneath the root with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) and sent with sendfile through libevent file segments, a
 * bounded slice at a time.
 *
 * It owns: the listening socket handed to it, every client connection, and the open
 * files of responses in flight. It runs on the caller's event_base and never blocks it.
 * Each request is logged at info level (peer, method, target, status, bytes, duration);
 * lines of refused requests are rate-limited. The caller ignores SIGPIPE (a client that
 * goes away mid-response must not kill the process).
 *
 * Functions return 0 on success or a negative errno, with err (if not NULL) filled.
 */
#pragma once

#include <stdint.h>

#include "common/common.h"
#include "status/timeline.h"

struct event_base;
struct httpd;
struct pxf_error;

/* Defaults for the zero fields of struct httpd_config. */
#define HTTPD_DEFAULT_MAX_CONNECTIONS   256
#define HTTPD_DEFAULT_MAX_PER_SOURCE    16 /* a boot loader or initramfs uses one or two */
#define HTTPD_DEFAULT_MAX_REQUESTS      1000
#define HTTPD_DEFAULT_MAX_LIFETIME_MS   600000
#define HTTPD_DEFAULT_IDLE_TIMEOUT_MS   30000
#define HTTPD_DEFAULT_HEADER_TIMEOUT_MS 10000
#define HTTPD_LISTEN_BACKLOG            256

/* The limits a user may set: `server.http.KEY` in a config, --FLAG on the command line of
 * `pxeforge serve` (and of pxeforge-server, which gets them from it). One X per limit:
 * X(field of struct httpd_config, KEY, FLAG, least, most, default, what it bounds). */
#define HTTPD_LIMITS(X)                                                                            \
        X(max_connections, "maxConnections", "http-max-connections", 1, 65536,                     \
          HTTPD_DEFAULT_MAX_CONNECTIONS,                                                           \
          "open connections; at the cap the one that waited longest for a request is closed "      \
          "to make room")                                                                          \
        X(max_per_source, "maxPerSource", "http-max-per-source", 1, 65536,                         \
          HTTPD_DEFAULT_MAX_PER_SOURCE,                                                            \
          "open connections from one address; one more is closed at once")                         \
        X(max_requests, "maxRequests", "http-max-requests", 1, 1000000,                            \
          HTTPD_DEFAULT_MAX_REQUESTS, "requests on one connection before it is closed")            \
        X(max_lifetime_ms, "maxLifetimeMs", "http-max-lifetime-ms", 1000, 86400000,                \
          HTTPD_DEFAULT_MAX_LIFETIME_MS,                                                           \
          "milliseconds a connection may live; it closes after the response in flight")            \
        X(idle_timeout_ms, "idleTimeoutMs", "http-idle-timeout-ms", 100, 3600000,                  \
          HTTPD_DEFAULT_IDLE_TIMEOUT_MS,                                                           \
          "milliseconds a kept-alive connection may wait for its next request, or a client "       \
          "may stop reading a response")                                                           \
        X(header_timeout_ms, "headerTimeoutMs", "http-header-timeout-ms", 100, 600000,             \
          HTTPD_DEFAULT_HEADER_TIMEOUT_MS,                                                         \
          "milliseconds in which a request's head must arrive complete")

/* Opens a TCP socket listening on address:port (IPv4 or IPv6 literal; NULL means "::"
 * dual-stack, falling back to 0.0.0.0), close-on-exec, non-blocking, SO_REUSEADDR. Port
 * 0 picks a free port (tests). Done before privileges are dropped; the fd is then handed
 * to httpd_new(). */
int httpd_bind(const char *address, uint16_t port, int *ret_fd, struct pxf_error *err);

/* The local port a listening socket is bound to. */
int httpd_bound_port(int fd, uint16_t *ret_port);

/* The reserved path of the appliance's own pages, API and metrics. */
#define HTTPD_API_PREFIX PXF_API_PREFIX

/* The largest body a POST to the API may carry; a longer one gets 413 unread. */
#define HTTPD_API_MAX_BODY 1024

/* The appliance's own answers under HTTPD_API_PREFIX. path is what follows the prefix,
 * without the query: plain ASCII, never decoded (a path with '%' gets 404 unasked). */
struct evbuffer;
struct sockaddr;
struct httpd_api {
        /* A GET or HEAD: writes the body into body, sets *content_type (a static string)
         * and returns the status, 200 or 404. */
        int (*answer)(void *ctx, const char *path, struct evbuffer *body,
                      const char **content_type);
        /* A POST, with its whole body (len <= HTTPD_API_MAX_BODY; not NUL-terminated) from
         * the client at peer: writes the answer's body into out, sets *content_type and
         * returns the status, which the answer carries whatever it is. NULL: every POST
         * gets 405. The only way a client changes anything: whoever sets it bounds it. */
        int (*receive)(void *ctx, const char *path, const struct sockaddr *peer, size_t peer_len,
                       const char *body, size_t len, struct evbuffer *out,
                       const char **content_type);
        void *ctx;
};

struct httpd_config {
        /* The directory served. May be a symlink; resolved per request. Copied. */
        const char *root;
        /* From httpd_bind(); httpd_new() takes it over (also when it fails). */
        int listen_fd;
        /* At this many open connections, the connection that has waited longest for its
         * next request (an idle keep-alive one, or one that sent nothing yet) is closed
         * to make room for a new one; when every connection is busy with a response,
         * accepting pauses (clients wait in the backlog) and the next connection to finish
         * a response is closed. 0: HTTPD_DEFAULT_MAX_CONNECTIONS. */
        unsigned max_connections;
        /* A connection from an address that already has this many is closed at once
         * (capped at max_connections). 0: HTTPD_DEFAULT_MAX_PER_SOURCE. */
        unsigned max_per_source;
        /* After this many requests, or once it is this old, a connection's next response
         * says "Connection: close" and ends it (a response is never cut for it).
         * 0: HTTPD_DEFAULT_MAX_REQUESTS, HTTPD_DEFAULT_MAX_LIFETIME_MS. */
        unsigned max_requests;
        unsigned max_lifetime_ms;
        /* A kept-alive connection waiting for its next request, or a client that stops
         * reading a response, is closed after this long. 0: HTTPD_DEFAULT_IDLE_TIMEOUT_MS. */
        unsigned idle_timeout_ms;
        /* A request head must be complete this long after the connection opened or its
         * first byte arrived (slowloris); then 408 and close. 0: the default above. */
        unsigned header_timeout_ms;
        /* If set: called on the loop as a GET's file body starts, about once a second
         * while it is sent, and as it ends or is cut (also in httpd_free), and for a
         * request of a file that is not there; what the status timeline files
         * (status/timeline.h). Its ctx must outlive the httpd. */
        struct tl_observer observer;
        /* If api.answer is set: GET and HEAD requests for HTTPD_API_PREFIX and below are
         * answered by it instead of from the folder (which never serves a name starting
         * with '.', so the two cannot collide); if api.receive is set, POST requests there
         * go to it. Any other POST gets 405. */
        struct httpd_api api;
        /* If set: opens every file asked for, in place of the root (common.h), and also
         * gets GETs below PXF_BOOT_PREFIX, which would otherwise go to the API. Its ctx
         * must outlive the httpd. */
        struct pxf_opener opener;
};

/* A value for each of HTTPD_LIMITS, as a config or a command line gives them; 0: the
 * default. httpd_config_limits() puts them in a struct httpd_config. */
#define HTTPD_LIMIT_FIELD(field, ...) unsigned field;
struct httpd_limits {
        HTTPD_LIMITS(HTTPD_LIMIT_FIELD)
};

/* Sets c's limits to the nonzero values of l. */
void httpd_config_limits(struct httpd_config *c, const struct httpd_limits *l);

/* Counters since httpd_new(), for tests and status output. */
struct httpd_stats {
        uint64_t connections_accepted;
        unsigned connections_open;
        uint64_t accept_pauses; /* times the connection cap paused accepting */
        uint64_t requests;      /* responses started, of any status */
        uint64_t responses_2xx, responses_4xx, responses_5xx;
        uint64_t body_bytes_sent;
        uint64_t timeouts;           /* connections closed by the header, idle or write timeout */
        uint64_t per_source_refused; /* connections closed at once: max_per_source */
        uint64_t made_room;          /* waiting connections closed at max_connections */
        uint64_t retired;            /* connections ended by max_requests or max_lifetime */
        uint64_t bodies_too_large;   /* POSTs refused unread: over HTTPD_API_MAX_BODY */
};

/* Starts serving on base. */
int httpd_new(struct event_base *base, const struct httpd_config *cfg, struct httpd **ret,
              struct pxf_error *err);

/* Closes the listener and every connection (responses in flight are cut). Accepts NULL;
 * returns NULL. */
struct httpd *httpd_free(struct httpd *h);

void httpd_get_stats(const struct httpd *h, struct httpd_stats *ret);
