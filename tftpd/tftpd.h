/* tftpd: the embedded, read-only TFTP server of pxeforge, on the caller's libevent loop.
 *
 * What it does: answers read requests (RFC 1350, octet mode) for files beneath one root
 * directory, with option negotiation (RFC 2347 blksize, RFC 2348/2349 tsize and timeout,
 * RFC 7440 windowsize) and block-number rollover, so files of any size can be sent. Each
 * transfer gets its own UDP socket (its TID), bound to the local address the request was
 * sent to. It is not connect()ed: packets from another address or port must reach it to be
 * answered with ERROR 5 (RFC 1350); they leave the transfer alone. Only a
 * timeout retransmits (duplicate ACKs never do). The server's timeout doubles after each
 * retransmission, up to 8x; a timeout the client negotiated is used as it is. A silent
 * client is dropped after max_retries retransmissions: with timeout_ms T and 3 retries
 * that is T * (1 + 2 + 4 + 8) after the last packet it acknowledged.
 *
 * A request's source address may be forged, so a transfer is "unproven" until the
 * client's first ACK shows it is there: until then the first packet (DATA 1 or the OACK)
 * is sent at most twice, with the server's own timeout (the client's timeout option
 * applies only once proven), so one spoofed request reflects at most two packets. Each
 * source address has at most max_per_source transfers at once; a request beyond that goes
 * unanswered. A request from the address and port of a running transfer joins it (is
 * dropped) instead of starting another. At max_transfers, the oldest unproven transfer
 * makes way for the new request; only when every transfer is proven does it go
 * unanswered. One host therefore cannot fill the table for longer than an unproven
 * transfer lives (timeout_ms * 3).
 *
 * Requests it refuses: write requests (ERROR 2), modes other than octet (ERROR 4; netascii
 * would need translation that breaks tsize, and no PXE client uses it), malformed requests
 * (ERROR 4), duplicate or too many options (ERROR 8). A request beyond max_transfers gets
 * no answer, so the client resends it and a freed slot serves it (PXE firmware gives up on
 * an ERROR). Other packets sent to the listening socket are dropped silently, so two
 * servers cannot ping-pong.
 *
 * Names: backslashes are path separators (Windows-style clients) and leading slashes are
 * dropped, so "/grub/grub.cfg", "grub/grub.cfg" and "\grub\grub.cfg" are the same file.
 * ".." components and control characters are refused. The root path is opened again for
 * every request, so it may be a symlink that is swapped atomically to a new artifacts
 * folder; transfers in flight keep the file they opened. Files are opened beneath it with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): absolute paths and symlinks that lead
 * out of the root are refused (ERROR 2), as is anything but a regular file. Symlinks that
 * stay beneath the root are followed, so an artifacts folder may use them.
 *
 * What it owns: the struct tftpd, its transfers, their sockets, files, events and buffers.
 * It borrows the event base and the listening socket (the caller binds it, possibly as root
 * before dropping privileges, and closes it after tftpd_free()).
 *
 * Logs: one info line per finished transfer (peer, quoted file name, options, bytes,
 * duration, result) and per refused request, at most TFTPD_LOG_PER_SECOND lines a second;
 * the rest go to debug with a count of what was held back.
 */
#pragma once

#include <stdint.h>

#include "common/common.h"
#include "status/timeline.h"
#include "tftpd/tftp-packet.h"

struct event_base;
struct tftpd;

#define TFTPD_PORT                   69
#define TFTPD_MAX_TRANSFERS_DEFAULT  512 /* a rack booting at once; 2 fds each */
#define TFTPD_MAX_TRANSFERS_LIMIT    4096
#define TFTPD_TIMEOUT_MS_DEFAULT     1000
#define TFTPD_TIMEOUT_MS_LIMIT       60000
#define TFTPD_MAX_RETRIES_DEFAULT    5
#define TFTPD_MAX_RETRIES_LIMIT      20
#define TFTPD_UNPROVEN_RETRIES       1    /* the first packet goes out at most twice */
#define TFTPD_MAX_PER_SOURCE_DEFAULT 4    /* a PXE client fetches one file at a time */
#define TFTPD_MAX_BLKSIZE_DEFAULT    1468 /* 1500-byte Ethernet MTU minus IPv4+UDP+TFTP */
#define TFTPD_MAX_WINDOWSIZE_DEFAULT 64
#define TFTPD_MAX_WINDOWSIZE_LIMIT   1024
#define TFTPD_LOG_PER_SECOND         50

/* The limits a user may set: `server.tftp.KEY` in a config, --FLAG on the command line of
 * `pxeforge serve` (and of pxeforge-server, which gets them from it). One X per limit:
 * X(field of struct tftpd_config, KEY, FLAG, least, most, default, what it bounds). */
#define TFTPD_LIMITS(X)                                                                            \
        X(max_transfers, "maxTransfers", "tftp-max-transfers", 1, TFTPD_MAX_TRANSFERS_LIMIT,       \
          TFTPD_MAX_TRANSFERS_DEFAULT, "transfers at once, from every client together")            \
        X(max_per_source, "maxPerSource", "tftp-max-per-source", 1, TFTPD_MAX_TRANSFERS_LIMIT,     \
          TFTPD_MAX_PER_SOURCE_DEFAULT,                                                            \
          "transfers at once from one address; its further requests wait for an answer")           \
        X(timeout_ms, "timeoutMs", "tftp-timeout-ms", 100, TFTPD_TIMEOUT_MS_LIMIT,                 \
          TFTPD_TIMEOUT_MS_DEFAULT,                                                                \
          "milliseconds before the first retransmission, doubled after each one up to 8 "          \
          "times; a client that acknowledged a packet may ask for its own timeout")                \
        X(max_retries, "maxRetries", "tftp-max-retries", 1, TFTPD_MAX_RETRIES_LIMIT,               \
          TFTPD_MAX_RETRIES_DEFAULT,                                                               \
          "retransmissions of one window before a silent client is given up (the first "           \
          "packet of a transfer goes out at most twice whatever this is)")                         \
        X(max_blksize, "maxBlockSize", "tftp-max-block-size", TFTP_BLKSIZE_MIN, TFTP_BLKSIZE_MAX,  \
          TFTPD_MAX_BLKSIZE_DEFAULT,                                                               \
          "the largest blksize granted, in bytes; a client asking for more gets this")             \
        X(max_windowsize, "maxWindowSize", "tftp-max-window-size", 1, TFTPD_MAX_WINDOWSIZE_LIMIT,  \
          TFTPD_MAX_WINDOWSIZE_DEFAULT,                                                            \
          "the largest windowsize granted, in blocks sent before an acknowledgement")

/* A value for each of TFTPD_LIMITS, as a config or a command line gives them; 0: the
 * default. tftpd_config_limits() puts them in a struct tftpd_config. */
#define TFTPD_LIMIT_FIELD(field, ...) unsigned field;
struct tftpd_limits {
        TFTPD_LIMITS(TFTPD_LIMIT_FIELD)
};

/* Zero fields take the defaults above. */
struct tftpd_config {
        const char *root;       /* directory (or symlink to one) served read-only */
        int listen_fd;          /* from tftpd_bind(); borrowed */
        unsigned max_transfers; /* concurrent transfers, 1..TFTPD_MAX_TRANSFERS_LIMIT */
        unsigned timeout_ms;    /* first retransmission timeout unless the client asks */
        unsigned max_retries;   /* retransmissions of one window before giving up */
        unsigned
            max_per_source; /* concurrent transfers of one source address (at most max_transfers) */
        uint16_t max_blksize;    /* TFTP_BLKSIZE_MIN (8) and up; larger requests are lowered */
        uint16_t max_windowsize; /* 1..TFTPD_MAX_WINDOWSIZE_LIMIT */
        /* If set: called on the loop as a transfer starts, about once a second while it
         * moves on, and as it ends (also in tftpd_free), and for a request of a file that
         * is not there; what the status timeline files (status/timeline.h). Its ctx must
         * outlive the tftpd. */
        struct tl_observer observer;
        /* If set: opens every file asked for, in place of the root (common.h); the root
         * must still be a folder. Its ctx must outlive the tftpd. */
        struct pxf_opener opener;
};

/* Sets c's limits to the nonzero values of l. */
void tftpd_config_limits(struct tftpd_config *c, const struct tftpd_limits *l);

struct tftpd_stats {
        unsigned active;          /* transfers in progress */
        uint64_t completed;       /* transfers whose every block was sent and acknowledged */
        uint64_t failed;          /* transfers that timed out, stopped or hit an I/O error */
        uint64_t aborted;         /* transfers the client ended with an ERROR (EDK2 size probes) */
        uint64_t refused;         /* requests answered with an ERROR */
        uint64_t deferred;        /* requests left unanswered at max_transfers (clients resend) */
        uint64_t per_source_held; /* requests left unanswered at max_per_source */
        uint64_t joined;          /* requests from the address and port of a running transfer */
        uint64_t evicted;         /* unproven transfers ended to make way for a request */
};

/* Opens a UDP socket (close-on-exec, nonblocking) bound to address (IPv4 or IPv6 literal;
 * NULL or "" means 0.0.0.0) and port (0 picks a free one). */
int tftpd_bind(const char *address, uint16_t port, int *ret_fd, struct pxf_error *err);

/* The port fd is bound to, or a negative errno. */
int tftpd_local_port(int fd);

/* Starts serving cfg->root on cfg->listen_fd from base. Checks that the root is a
 * directory and that the kernel has openat2 (Linux 5.6). */
int tftpd_new(struct event_base *base, const struct tftpd_config *cfg, struct tftpd **ret,
              struct pxf_error *err);

/* Ends every transfer (logged as stopped) and frees everything; accepts NULL. */
struct tftpd *tftpd_free(struct tftpd *t);

void tftpd_get_stats(const struct tftpd *t, struct tftpd_stats *ret);
