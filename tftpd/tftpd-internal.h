/* tftpd-internal: shared between tftpd.c (listener, requests) and tftpd-transfer.c (one
 * transfer's state machine). Not for other modules. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "status/timeline.h"
#include "tftpd/tftp-packet.h"
#include "tftpd/tftpd.h"

struct event;
struct tftpd_transfer;

#define TFTPD_PEER_NAME_MAX (INET6_ADDRSTRLEN + 8) /* "[addr]:port" */

/* Who sent a request, and to which of our addresses (so replies come from it). */
struct tftpd_peer {
        struct sockaddr_storage addr;
        socklen_t addr_len;
        struct sockaddr_storage local; /* port 0; family AF_UNSPEC when unknown */
        socklen_t local_len;
        char name[TFTPD_PEER_NAME_MAX];
};

struct tftpd {
        struct event_base *base;
        char *root;
        struct pxf_opener opener;
        int listen_fd;
        struct event *ev_listen;
        unsigned max_transfers;
        unsigned timeout_ms;
        unsigned max_retries;
        unsigned max_per_source;
        struct tftp_limits limits;
        struct tftpd_transfer *transfers; /* doubly linked, unordered */
        struct tftpd_stats stats;
        struct pxf_rate_limit log_rate; /* TFTPD_LOG_PER_SECOND at info */
        struct tl_observer observer;
};

/* What a transfer needs from its request; the file fd is taken over in any case. */
struct tftpd_start {
        const struct tftpd_peer *peer;
        const struct tftp_request *req;
        const char *path; /* cleaned name, for the log */
        int file_fd;
        uint64_t size;
};

/* Creates the transfer's socket and sends the OACK or the first window. On failure
 * nothing is left behind (the file fd is closed). */
int tftpd_transfer_start(struct tftpd *t, struct tftpd_start *s);
/* Ends a transfer: logs its line with result, counts it, frees it. Returns NULL. */
struct tftpd_transfer *tftpd_transfer_end(struct tftpd_transfer *x, const char *result,
                                          uint64_t *counter);

/* Whether a transfer to peer's address and port is running. */
bool tftpd_transfer_running(const struct tftpd *t, const struct tftpd_peer *peer);
/* How many transfers to peer's address (any port) are running. */
unsigned tftpd_transfers_from(const struct tftpd *t, const struct tftpd_peer *peer);
/* Ends the oldest transfer whose client has not acknowledged anything yet (logged as
 * made way); false when every transfer is proven. */
bool tftpd_transfer_evict_unproven(struct tftpd *t);

/* What the table and each transfer must always satisfy (the fuzz harness checks it after
 * every packet): NULL, or which rule is broken. */
const char *tftpd_check(const struct tftpd *t);

/* Tells the observer, if any, of a transfer's state (see struct tftpd_config). */
void tftpd_observe(struct tftpd *t, const struct tftpd_peer *peer, const char *path, uint64_t bytes,
                   uint64_t size, enum tl_result result);

/* A socket for replies to peer: bound to the address the request came to, port 0. */
int tftpd_reply_socket(const struct tftpd_peer *peer);

/* An info line, unless TFTPD_LOG_PER_SECOND lines went out in the current second; then
 * debug, and the count held back is reported when the next second starts. */
void tftpd_log(struct tftpd *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
