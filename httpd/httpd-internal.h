/* httpd-internal: what httpd.c (server, listener) and httpd-conn.c (one client) share.
 * Private to httpd/. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "httpd/http-request.h"
#include "httpd/httpd.h"
#include "status/timeline.h"

struct bufferevent;
struct event;
struct evbuffer_file_segment;
struct evconnlistener;
struct sockaddr;
struct stat;

/* A body is handed to the socket in slices of this size, and more is queued only while
 * less than HTTPD_SEND_QUEUE bytes wait: a slow client pins no more than that. */
#define HTTPD_SEND_CHUNK     (256 * 1024)
#define HTTPD_SEND_QUEUE     (1024 * 1024)
#define HTTPD_SEND_LOW_WATER (256 * 1024)
/* After an error response the connection drains what the client still sends for this
 * long before closing, so the client reads the response instead of a reset. */
#define HTTPD_LINGER_MS 2000
/* A failed accept() (EMFILE...) pauses accepting for this long instead of spinning. */
#define HTTPD_ACCEPT_RETRY_MS 1000
/* Access lines of refused requests (status >= 400) per second; the rest are counted and
 * the count logged later, so a flood of bad requests cannot flood the journal. */
#define HTTPD_ERROR_LOGS_PER_SEC 20
/* Peer address text: "address:port". */
#define HTTPD_PEER_MAX 64

struct httpd_conn;

struct httpd {
        struct event_base *base;
        char *root;
        struct pxf_opener opener;
        struct evconnlistener *listener;
        struct event *accept_retry;
        unsigned max_connections, max_per_source, max_requests;
        uint64_t max_lifetime_usec;
        struct timeval idle_tv, header_tv, linger_tv;
        bool paused_by_cap, paused_by_error;
        struct httpd_conn *conns; /* doubly linked, newest first */
        struct httpd_stats stats;
        struct pxf_rate_limit log_rate; /* refused-request log lines */
        struct tl_observer observer;
        struct httpd_api api;
};

/* Tells the observer, if any, of a file body's state (see struct httpd_config). */
void httpd_observe(struct httpd *h, const struct sockaddr_storage *addr, const char *path,
                   uint64_t bytes, uint64_t size, enum tl_result result);

/* Takes over fd (a connected client socket; closed on failure) and counts the connection
 * as open. */
int httpd_conn_new(struct httpd *h, int fd, const struct sockaddr *sa, int salen);
/* Unlinks the connection from its server and closes it. Returns NULL. */
struct httpd_conn *httpd_conn_free(struct httpd_conn *c);
/* Called by a connection after it left the server's list: uncounts it and resumes
 * accepting below the cap. */
void httpd_connection_closed(struct httpd *h);
/* How many open connections come from sa's address (any port). */
unsigned httpd_conns_from(const struct httpd *h, const struct sockaddr *sa);
/* Closes the connection that has waited longest for a request (none in flight, no byte
 * of the next one received); false when every connection is busy. */
bool httpd_close_waiting(struct httpd *h);
