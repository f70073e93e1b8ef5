/* tftpd-transfer: one read transfer, from the OACK (or DATA 1) to the last ACK.
 *
 * Blocks are counted with 64-bit indexes: index 0 is the OACK (when options were
 * acknowledged), index i >= 1 is DATA block i, sent on the wire as (uint16_t)i so block
 * numbers roll over to 0 after 65535. [base, next) are the blocks sent and not yet
 * acknowledged; at most windowsize of them (RFC 7440; windowsize 1 is RFC 1350 lockstep).
 *
 * Only the timer retransmits. An ACK that acknowledges nothing new (a duplicate, a stale
 * one, or one from the future) is ignored: answering duplicates is the Sorcerer's
 * Apprentice bug, which doubles the traffic for the rest of the transfer. An ACK for a
 * block inside the window but before its end means the client saw a gap (RFC 7440), so
 * sending resumes right after it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tftpd/tftpd-internal.h"

#define RECV_BATCH       16 /* packets read per wakeup */
#define BACKOFF_MAX      3  /* the timeout doubles at most this many times (8x) */
#define FOREIGN_REPLIES  8  /* ERROR 5 answers per transfer; bounded, as strangers are free */
#define OPTIONS_TEXT_MAX 96

struct tftpd_transfer {
        struct tftpd *server;
        struct tftpd_transfer *prev, *next_transfer;
        int sock;
        int file_fd;
        struct event *ev_read, *ev_write, *ev_timer;
        struct tftpd_peer peer;
        char file[TFTP_ESCAPED_MAX]; /* quoted and escaped, for the log */
        char *path;                  /* as cleaned, for the observer */
        struct tftp_negotiated opts;
        uint64_t size;
        uint64_t last; /* index of the final, short DATA block */
        uint64_t base; /* first index not yet acknowledged */
        uint64_t next; /* next index to send */
        uint64_t high; /* one past the highest index ever sent */
        unsigned timeout_ms;
        unsigned retries;
        bool proven; /* the client acknowledged something: its address is real */
        unsigned foreign_replies;
        uint64_t retransmits;
        uint64_t start_usec;
        uint64_t observed_usec; /* when the observer last heard of it */
        uint8_t *buf;
        size_t buf_cap;
};

static void list_add(struct tftpd *t, struct tftpd_transfer *x)
{
        x->next_transfer = t->transfers;
        if (t->transfers)
                t->transfers->prev = x;
        t->transfers = x;
        t->stats.active++;
}

static void list_remove(struct tftpd *t, struct tftpd_transfer *x)
{
        if (x->prev)
                x->prev->next_transfer = x->next_transfer;
        else
                t->transfers = x->next_transfer;
        if (x->next_transfer)
                x->next_transfer->prev = x->prev;
        t->stats.active--;
}

/* The acknowledged options, as in the OACK: "blksize=1468 tsize=123" or "no options". */
static void options_text(const struct tftp_negotiated *o, char *buf, size_t cap)
{
        size_t n = 0;

        (void)snprintf(buf, cap, "no options");
        if (o->acked & TFTP_OPT_BLKSIZE)
                n += (size_t)snprintf(buf + n, cap - n, "blksize=%u ", o->blksize);
        if (o->acked & TFTP_OPT_TSIZE)
                n += (size_t)snprintf(buf + n, cap - n, "tsize=%" PRIu64 " ", o->tsize);
        if (o->acked & TFTP_OPT_TIMEOUT)
                n += (size_t)snprintf(buf + n, cap - n, "timeout=%u ", o->timeout_s);
        if (o->acked & TFTP_OPT_WINDOWSIZE)
                n += (size_t)snprintf(buf + n, cap - n, "windowsize=%u ", o->windowsize);
        if (n > 0)
                buf[n - 1] = '\0';
}

static uint64_t bytes_acknowledged(const struct tftpd_transfer *x)
{
        uint64_t blocks = x->base > 0 ? x->base - 1 : 0;
        uint64_t bytes = blocks * x->opts.blksize;

        return bytes < x->size ? bytes : x->size;
}

struct tftpd_transfer *tftpd_transfer_end(struct tftpd_transfer *x, const char *result,
                                          uint64_t *counter)
{
        char opts[OPTIONS_TEXT_MAX];
        uint64_t usec = pxf_now_usec() - x->start_usec;

        options_text(&x->opts, opts, sizeof opts);
        tftpd_log(x->server,
                  "tftp: %s %s (%s): %" PRIu64 " of %" PRIu64 " bytes in %" PRIu64
                  ".%03u s, %" PRIu64 " retransmitted: %s",
                  x->peer.name, x->file, opts, bytes_acknowledged(x), x->size, usec / 1000000,
                  (unsigned)(usec / 1000 % 1000), x->retransmits, result);
        tftpd_observe(x->server, &x->peer, x->path, bytes_acknowledged(x), x->size,
                      counter == &x->server->stats.completed ? TL_RESULT_DONE : TL_RESULT_ABORTED);
        (*counter)++;
        list_remove(x->server, x);
        if (x->ev_read)
                event_free(x->ev_read);
        if (x->ev_write)
                event_free(x->ev_write);
        if (x->ev_timer)
                event_free(x->ev_timer);
        if (x->sock >= 0)
                (void)close(x->sock);
        if (x->file_fd >= 0)
                (void)close(x->file_fd);
        free(x->buf);
        free(x->path);
        free(x);
        return NULL;
}

/* Ends the transfer after telling the client why (best effort). */
static struct tftpd_transfer *fail(struct tftpd_transfer *x, uint16_t code, const char *msg)
{
        int len = tftp_build_error(x->buf, x->buf_cap, code, msg);

        if (len > 0)
                (void)sendto(x->sock, x->buf, (size_t)len, 0,
                             (const struct sockaddr *)&x->peer.addr, x->peer.addr_len);
        return tftpd_transfer_end(x, msg, &x->server->stats.failed);
}

/* ---- sending ---------------------------------------------------------------------- */

static int build_block(struct tftpd_transfer *x, uint64_t idx, size_t *ret_len)
{
        uint64_t off = (idx - 1) * x->opts.blksize;
        size_t want = 0;
        ssize_t n;

        if (idx == 0) {
                int len = tftp_build_oack(x->buf, x->buf_cap, &x->opts);

                if (len < 0)
                        return len;
                *ret_len = (size_t)len;
                return 0;
        }
        if (off < x->size)
                want = x->size - off < x->opts.blksize ? (size_t)(x->size - off) : x->opts.blksize;
        tftp_put_data_header(x->buf, (uint16_t)idx);
        n = pread(x->file_fd, x->buf + TFTP_HEADER_SIZE, want, (off_t)off);
        if (n < 0)
                return -errno;
        if ((size_t)n != want)
                return -EIO; /* the file shrank under us */
        *ret_len = TFTP_HEADER_SIZE + want;
        return 0;
}

/* Sends block idx; -EAGAIN when the socket buffer is full. */
static int send_block(struct tftpd_transfer *x, uint64_t idx)
{
        size_t len = 0;
        int r = build_block(x, idx, &len);

        if (r < 0)
                return r;
        if (sendto(x->sock, x->buf, len, 0, (const struct sockaddr *)&x->peer.addr,
                   x->peer.addr_len) < 0)
                return errno == EWOULDBLOCK || errno == ENOBUFS ? -EAGAIN : -errno;
        if (idx < x->high)
                x->retransmits++;
        else
                x->high = idx + 1;
        return 0;
}

/* Sends what the window allows; when the socket is full, continues once it is writable. */
static int fill_window(struct tftpd_transfer *x)
{
        /* The OACK goes alone: DATA may only follow its ACK 0. */
        uint64_t limit = x->base == 0 ? 1 : x->base + x->opts.windowsize;

        while (x->next < limit && x->next <= x->last) {
                int r = send_block(x, x->next);

                if (r == -EAGAIN)
                        return event_add(x->ev_write, NULL) < 0 ? -ENOMEM : 0;
                if (r < 0)
                        return r;
                x->next++;
        }
        return 0;
}

static int arm_timer(struct tftpd_transfer *x)
{
        /* A timeout the client asked for (RFC 2349) is kept as it is once the client is
         * proven; ours backs off. */
        unsigned shift = x->opts.timeout_s && x->proven ? 0
                         : x->retries < BACKOFF_MAX     ? x->retries
                                                        : BACKOFF_MAX;
        uint64_t ms = (uint64_t)x->timeout_ms << shift;
        struct timeval tv = pxf_timeval_from_ms(ms);

        return event_add(x->ev_timer, &tv) < 0 ? -ENOMEM : 0;
}

/* fill_window() and arm_timer(); on failure the transfer ends. Returns 1 when it did. */
static int send_and_wait(struct tftpd_transfer *x)
{
        int r = fill_window(x);

        if (r >= 0)
                r = arm_timer(x);
        if (r < 0) {
                char msg[TFTP_ERROR_MSG_MAX];

                (void)snprintf(msg, sizeof msg, "send failed: %s", strerror(-r));
                fail(x, TFTP_ERR_UNDEFINED, msg);
                return 1;
        }
        return 0;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
        (void)fd;
        (void)what;
        (void)send_and_wait(arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
        struct tftpd_transfer *x = arg;

        (void)fd;
        (void)what;
        if (++x->retries > (x->proven ? x->server->max_retries : TFTPD_UNPROVEN_RETRIES)) {
                /* Some clients never ACK the last block; everything was delivered. */
                if (x->high > x->last && x->base == x->last)
                        tftpd_transfer_end(x, "ok (no final ACK)", &x->server->stats.completed);
                else
                        tftpd_transfer_end(x, "timed out", &x->server->stats.failed);
                return;
        }
        x->next = x->base;
        (void)send_and_wait(x);
}

/* ---- receiving -------------------------------------------------------------------- */

/* The observer hears of a running transfer at most once a second. */
static void observe_progress(struct tftpd_transfer *x)
{
        if (!tl_observer_due(&x->server->observer, &x->observed_usec))
                return;
        tftpd_observe(x->server, &x->peer, x->path, bytes_acknowledged(x), x->size,
                      TL_RESULT_RUNNING);
}

/* Returns 1 when the transfer ended (and x is gone). */
static int on_ack(struct tftpd_transfer *x, uint16_t block)
{
        uint16_t delta = (uint16_t)(block - (uint16_t)x->base);

        if (delta >= x->next - x->base)
                return 0; /* acknowledges nothing in flight */
        x->base += (uint64_t)delta + 1;
        x->next = x->base; /* before the window's end: a gap on the client's side */
        x->retries = 0;
        if (!x->proven) {
                x->proven = true;
                if (x->opts.timeout_s)
                        x->timeout_ms = x->opts.timeout_s * 1000u;
        }
        if (x->base > x->last) {
                tftpd_transfer_end(x, "ok", &x->server->stats.completed);
                return 1;
        }
        observe_progress(x);
        return send_and_wait(x);
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

                return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        }
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* RFC 1350: a packet from another TID gets ERROR 5; the transfer goes on. */
static void answer_stranger(struct tftpd_transfer *x, const struct sockaddr_storage *from,
                            socklen_t len)
{
        uint8_t pkt[64];
        int n;

        if (x->foreign_replies >= FOREIGN_REPLIES)
                return;
        x->foreign_replies++;
        n = tftp_build_error(pkt, sizeof pkt, TFTP_ERR_UNKNOWN_TID, "unknown transfer ID");
        if (n > 0)
                (void)sendto(x->sock, pkt, (size_t)n, 0, (const struct sockaddr *)from, len);
}

static int on_client_error(struct tftpd_transfer *x, const struct tftp_reply *rep)
{
        char esc[TFTP_ESCAPED_MAX], result[TFTP_ESCAPED_MAX + 64];

        (void)snprintf(result, sizeof result, "ended by the client: error %u %s", rep->value,
                       tftp_escape(rep->message, esc));
        tftpd_transfer_end(x, result, &x->server->stats.aborted);
        return 1;
}

static int handle_packet(struct tftpd_transfer *x, const uint8_t *pkt, size_t len,
                         const struct sockaddr_storage *from, socklen_t from_len)
{
        struct tftp_reply rep;

        if (!same_address(from, &x->peer.addr)) {
                answer_stranger(x, from, from_len);
                return 0;
        }
        if (tftp_parse_reply(pkt, len, &rep) < 0) {
                log_debug("tftp: %s: ignored a malformed %zu-byte packet", x->peer.name, len);
                return 0;
        }
        if (rep.opcode == TFTP_OP_ERROR)
                return on_client_error(x, &rep);
        return on_ack(x, rep.value);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
        struct tftpd_transfer *x = arg;

        (void)what;
        for (int i = 0; i < RECV_BATCH; i++) {
                uint8_t pkt[TFTP_REQUEST_MAX];
                struct sockaddr_storage from;
                socklen_t from_len = sizeof from;
                ssize_t n = recvfrom(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&from, &from_len);

                if (n < 0)
                        return; /* drained, or an ICMP error that the timer will handle */
                if (handle_packet(x, pkt, (size_t)n, &from, from_len) != 0)
                        return;
        }
}

/* ---- the table -------------------------------------------------------------------- */

bool tftpd_transfer_running(const struct tftpd *t, const struct tftpd_peer *peer)
{
        for (const struct tftpd_transfer *x = t->transfers; x; x = x->next_transfer)
                if (same_address(&x->peer.addr, &peer->addr))
                        return true;
        return false;
}

unsigned tftpd_transfers_from(const struct tftpd *t, const struct tftpd_peer *peer)
{
        unsigned n = 0;

        for (const struct tftpd_transfer *x = t->transfers; x; x = x->next_transfer)
                n += pxf_same_host((const struct sockaddr *)&x->peer.addr,
                                   (const struct sockaddr *)&peer->addr);
        return n;
}

static const char *check_transfer(const struct tftpd_transfer *x)
{
        if (!(x->base <= x->next && x->next <= x->last + 1 && x->high <= x->last + 1))
                return "blocks out of order: base <= next <= last + 1";
        if (x->next > x->base && x->next > x->high)
                return "blocks in flight that were never sent";
        if (x->next - x->base > x->opts.windowsize)
                return "more blocks in flight than the window";
        if (!x->proven && x->retries > TFTPD_UNPROVEN_RETRIES)
                return "an unproven transfer sent its first packet more than twice";
        if (!x->proven && x->base > 1)
                return "acknowledged blocks without being proven";
        return NULL;
}

const char *tftpd_check(const struct tftpd *t)
{
        unsigned n = 0;

        for (const struct tftpd_transfer *x = t->transfers; x; x = x->next_transfer, n++) {
                const char *broken = check_transfer(x);

                if (broken)
                        return broken;
                if (tftpd_transfers_from(t, &x->peer) > t->max_per_source)
                        return "more transfers from one address than max_per_source";
                for (const struct tftpd_transfer *y = x->next_transfer; y; y = y->next_transfer)
                        if (same_address(&x->peer.addr, &y->peer.addr))
                                return "two transfers to one address and port";
        }
        if (n != t->stats.active)
                return "the active count differs from the table";
        if (n > t->max_transfers)
                return "more transfers than max_transfers";
        return NULL;
}

bool tftpd_transfer_evict_unproven(struct tftpd *t)
{
        struct tftpd_transfer *oldest = NULL;

        for (struct tftpd_transfer *x = t->transfers; x; x = x->next_transfer)
                if (!x->proven && (!oldest || x->start_usec < oldest->start_usec))
                        oldest = x;
        if (!oldest)
                return false;
        tftpd_transfer_end(oldest, "made way for a new request (the client never answered)",
                           &t->stats.evicted);
        return true;
}

/* ---- start ------------------------------------------------------------------------ */

static int setup(struct tftpd *t, struct tftpd_transfer *x, const struct tftpd_start *s)
{
        tftp_negotiate(s->req, &t->limits, s->size, &x->opts);
        x->timeout_ms = t->timeout_ms; /* the client's own applies once it is proven */
        x->last = s->size / x->opts.blksize + 1;
        x->base = x->next = x->opts.acked ? 0 : 1;
        /* Room for a DATA block, and for the OACK or an ERROR when blocks are tiny. */
        x->buf_cap = TFTP_HEADER_SIZE + (size_t)x->opts.blksize;
        if (x->buf_cap < TFTP_OACK_MAX)
                x->buf_cap = TFTP_OACK_MAX;
        if (x->buf_cap < TFTP_HEADER_SIZE + TFTP_ERROR_MSG_MAX + 1)
                x->buf_cap = TFTP_HEADER_SIZE + TFTP_ERROR_MSG_MAX + 1;
        x->buf = pxf_calloc(1, x->buf_cap);
        x->sock = tftpd_reply_socket(s->peer);
        if (x->sock < 0)
                return x->sock;
        x->ev_read = event_new(t->base, x->sock, EV_READ | EV_PERSIST, on_readable, x);
        x->ev_write = event_new(t->base, x->sock, EV_WRITE, on_writable, x);
        x->ev_timer = event_new(t->base, -1, 0, on_timeout, x);
        if (!x->ev_read || !x->ev_write || !x->ev_timer || event_add(x->ev_read, NULL) < 0)
                return -ENOMEM;
        return 0;
}

int tftpd_transfer_start(struct tftpd *t, struct tftpd_start *s)
{
        struct tftpd_transfer *x = pxf_calloc(1, sizeof *x);
        int r;

        x->server = t;
        x->file_fd = TAKE_FD(s->file_fd);
        x->sock = -1;
        x->size = s->size;
        x->peer = *s->peer;
        x->start_usec = pxf_now_usec();
        (void)tftp_escape(s->path, x->file);
        x->path = pxf_strdup(s->path);
        list_add(t, x);
        r = setup(t, x, s);
        if (r < 0) {
                char result[64];

                (void)snprintf(result, sizeof result, "could not start: %s", strerror(-r));
                tftpd_transfer_end(x, result, &t->stats.failed);
                return r;
        }
        x->observed_usec = x->start_usec;
        tftpd_observe(t, &x->peer, x->path, 0, x->size, TL_RESULT_RUNNING);
        (void)send_and_wait(x);
        return 0;
}
