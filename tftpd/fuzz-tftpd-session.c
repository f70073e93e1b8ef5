/* fuzz-tftpd-session: a libFuzzer entry point for the transfer table and each transfer's
 * state machine, not only the packet codec (fuzz-tftp-packet.c).
 *
 * Each input is a script played against a real tftpd on 127.0.0.1, on its own event
 * loop, with six clients (two ports on each of 127.0.0.1, .2 and .3): requests built from
 * a few file names and options or taken raw, ACKs of any block or of the last one seen,
 * ERRORs and raw bytes to the client's own transfer or to another client's (a stranger),
 * turns of the loop and short waits (the server's timeout is 1 to 4 ms, so retransmissions,
 * evictions and timeouts happen within an input). After every step tftpd_check() must
 * find the table sound, and no client may get the first packet of a transfer (OACK or
 * DATA 1) more than twice before it acknowledged something. At the end the server is
 * freed and every descriptor it opened must be closed.
 *
 * Script bytes: a header (max_transfers, max_per_source, timeout, retries), then steps
 * whose first byte is the step (low 3 bits) and the client (the rest, modulo 6). Linked
 * with tests/unit/fuzz-replay.c it replays the seed corpus with any compiler. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "tftpd/tftpd-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CLIENTS      6
#define STEPS_MAX    96
#define WAITS_MAX_MS 24 /* all waits of one input together */

struct client {
        int fd;
        struct sockaddr_in addr;
        struct sockaddr_in tid; /* the server's port for this client's transfer */
        bool has_tid;
        bool acked;          /* sent an ACK to tid */
        unsigned first_seen; /* OACKs and DATA 1 from tid before acked */
        uint16_t last_block; /* the last DATA block from tid */
};

struct session {
        struct event_base *base;
        struct tftpd *tftpd;
        struct timeline *timeline; /* what the server reports of its transfers */
        int listen_fd;
        struct sockaddr_in server;
        struct client clients[CLIENTS];
        const uint8_t *in;
        size_t left;
        unsigned waited_ms;
};

static const struct {
        const char *name;
        size_t size;
} served_files[] = {{"small", 100}, {"exact", 512}, {"big", 70000}};
static char served_dir[64];

static void remove_served_root(void)
{
        for (size_t i = 0; i < PXF_ELEMENTSOF(served_files); i++) {
                char path[128];

                snprintf(path, sizeof path, "%s/%s", served_dir, served_files[i].name);
                (void)unlink(path);
        }
        (void)rmdir(served_dir);
}

/* The served folder: made once per process (libFuzzer has no setup hook we can rely on
 * in the replay runner), read-only from then on, removed at exit. */
static const char *served_root(void)
{
        char *root = served_dir;
        const size_t n_files = PXF_ELEMENTSOF(served_files);

        if (root[0])
                return root;
        snprintf(served_dir, sizeof served_dir, "/tmp/pxf-fuzz-tftpd.XXXXXX");
        if (!mkdtemp(root))
                abort();
        atexit(remove_served_root);
        for (size_t i = 0; i < n_files; i++) {
                size_t size = served_files[i].size;
                char path[128], *buf = calloc(1, size);
                int fd;

                snprintf(path, sizeof path, "%s/%s", root, served_files[i].name);
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (!buf || fd < 0 || write(fd, buf, size) != (ssize_t)size)
                        abort();
                close(fd);
                free(buf);
        }
        pxf_log_set_level(PXF_LOG_ERROR);
        return root;
}

static unsigned open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        if (!d)
                abort();
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static uint8_t take(struct session *s)
{
        if (!s->left)
                return 0;
        s->left--;
        return *s->in++;
}

static void check(const struct session *s)
{
        const char *broken = tftpd_check(s->tftpd);

        if (broken) {
                fprintf(stderr, "tftpd_check: %s\n", broken);
                abort();
        }
}

/* ---- the clients -------------------------------------------------------------------- */

static void client_open(struct client *c, unsigned i)
{
        socklen_t len = sizeof c->addr;

        memset(c, 0, sizeof *c);
        c->addr.sin_family = AF_INET;
        c->addr.sin_addr.s_addr = htonl(0x7f000001u + i / 2); /* 127.0.0.1 to .3 */
        c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&c->addr, sizeof c->addr) < 0 ||
            getsockname(c->fd, (struct sockaddr *)&c->addr, &len) < 0)
                abort();
}

static void send_to(const struct client *c, const struct sockaddr_in *to, const void *pkt,
                    size_t len)
{
        (void)sendto(c->fd, pkt, len, 0, (const struct sockaddr *)to, sizeof *to);
}

/* What the server sent a client: a first packet from a new port starts a new transfer. */
static void client_read(struct client *c)
{
        uint8_t pkt[TFTP_BLKSIZE_MAX + TFTP_HEADER_SIZE];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n;

        while ((n = recvfrom(c->fd, pkt, sizeof pkt, 0, (struct sockaddr *)&from, &len)) >= 4) {
                bool first = pkt[1] == TFTP_OP_OACK ||
                             (pkt[1] == TFTP_OP_DATA && pkt[2] == 0 && pkt[3] == 1);

                if (pkt[0] != 0 || pkt[1] == TFTP_OP_ERROR)
                        continue;
                if (!c->has_tid || from.sin_port != c->tid.sin_port) {
                        c->tid = from;
                        c->has_tid = true;
                        c->acked = false;
                        c->first_seen = 0;
                }
                if (pkt[1] == TFTP_OP_DATA)
                        c->last_block = (uint16_t)(pkt[2] << 8 | pkt[3]);
                if (first && !c->acked && ++c->first_seen > 2) {
                        fprintf(stderr, "a client got a transfer's first packet 3 times\n");
                        abort();
                }
                len = sizeof from;
        }
}

static void read_all(struct session *s)
{
        for (unsigned i = 0; i < CLIENTS; i++)
                client_read(&s->clients[i]);
}

/* ---- the steps ---------------------------------------------------------------------- */

/* A request (or raw bytes that may be one) from a client with no transfer running starts
 * a new one, which may come from the port its last transfer used (the kernel reuses freed
 * ports), so it counts afresh.
 * Loopback delivers at once and every step reads what was sent, so nothing of the old
 * transfer is still queued for the client. */
static void forget_ended_transfer(const struct session *s, struct client *c)
{
        struct tftpd_peer peer = {.addr_len = sizeof c->addr};

        memcpy(&peer.addr, &c->addr, sizeof c->addr);
        if (!tftpd_transfer_running(s->tftpd, &peer))
                c->has_tid = false;
}

/* A read request for one of a few names, with options chosen by the script. */
static void request(struct session *s, const struct client *c)
{
        static const char *const names[] = {"small", "exact", "big", "missing", "../small"};
        uint8_t pkt[TFTP_REQUEST_MAX];
        uint8_t how = take(s);
        size_t n = 2;

        pkt[0] = 0;
        pkt[1] = TFTP_OP_RRQ;
        n += (size_t)snprintf((char *)pkt + n, sizeof pkt - n, "%s", names[(how & 7) % 5]) + 1;
        n += (size_t)snprintf((char *)pkt + n, sizeof pkt - n, "%s",
                              how & 0x80 ? "netascii" : "octet") +
             1;
        if (how & 0x08)
                n += (size_t)snprintf((char *)pkt + n, sizeof pkt - n, "blksize%c%u", 0,
                                      8u + take(s) * 8u) +
                     1;
        if (how & 0x10)
                n += (size_t)snprintf((char *)pkt + n, sizeof pkt - n, "windowsize%c%u", 0,
                                      1u + take(s) % 16u) +
                     1;
        if (how & 0x20)
                n += (size_t)snprintf((char *)pkt + n, sizeof pkt - n, "tsize%c0", 0) + 1;
        if (how & 0x40)
                n += (size_t)snprintf((char *)pkt + n, sizeof pkt - n, "timeout%c%u", 0, take(s)) +
                     1;
        send_to(c, &s->server, pkt, n);
}

/* Up to 32 bytes of the script, sent as they are. Raw bytes to the client's transfer may
 * well be an ACK, which the server takes like any other: the first packet may then be
 * followed by DATA 1, which is no resend. */
static void raw(struct session *s, struct client *c, const struct sockaddr_in *to)
{
        uint8_t pkt[32];
        size_t n = take(s) % sizeof pkt;

        for (size_t i = 0; i < n; i++)
                pkt[i] = take(s);
        send_to(c, to, pkt, n);
        if (c->has_tid && to == &c->tid && n >= 4 && pkt[0] == 0 && pkt[1] == TFTP_OP_ACK)
                c->acked = true;
}

static void ack(struct client *c, uint16_t block)
{
        uint8_t pkt[4] = {0, TFTP_OP_ACK, (uint8_t)(block >> 8), (uint8_t)block};

        if (!c->has_tid)
                return;
        send_to(c, &c->tid, pkt, sizeof pkt);
        c->acked = true;
}

static void error_to(const struct client *c, const struct sockaddr_in *to)
{
        static const uint8_t pkt[] = {0, TFTP_OP_ERROR, 0, 0, 's', 't', 'o', 'p', 0};

        send_to(c, to, pkt, sizeof pkt);
}

/* Runs the loop for ms milliseconds (0: once, without waiting). */
static void run_loop(struct session *s, unsigned ms)
{
        if (ms) {
                struct timeval tv = {0, (suseconds_t)ms * 1000};

                event_base_loopexit(s->base, &tv);
                event_base_dispatch(s->base);
        } else {
                event_base_loop(s->base, EVLOOP_NONBLOCK);
        }
        read_all(s);
}

static void step(struct session *s)
{
        uint8_t op = take(s);
        struct client *c = &s->clients[(op >> 3) % CLIENTS];
        struct client *other = &s->clients[((op >> 3) + 1) % CLIENTS];
        uint16_t block;
        unsigned ms;

        switch (op & 7) {
        case 0:
                forget_ended_transfer(s, c);
                request(s, c);
                break;
        case 1:
                forget_ended_transfer(s, c);
                raw(s, c, &s->server);
                break;
        case 2:
                block = (uint16_t)(take(s) << 8);
                ack(c, block | take(s));
                break;
        case 3:
                ack(c, c->last_block);
                break;
        case 4:
                if (other->has_tid) /* a stranger to that transfer */
                        error_to(c, &other->tid);
                else if (c->has_tid)
                        error_to(c, &c->tid);
                break;
        case 5:
                if (c->has_tid)
                        raw(s, c, &c->tid);
                break;
        case 6:
                run_loop(s, 0);
                break;
        case 7:
                ms = 1 + take(s) % 4;
                if (s->waited_ms + ms <= WAITS_MAX_MS) {
                        s->waited_ms += ms;
                        run_loop(s, ms);
                }
                break;
        }
        run_loop(s, 0);
        check(s);
}

/* The server's transfer reports go to a real timeline, so hostile names reach it too. */
static void observe(void *ctx, const struct tl_transfer *t)
{
        tl_transfer(ctx, t, pxf_wall_usec());
}

static void session_start(struct session *s)
{
        struct tftpd_config cfg = {.root = served_root()};
        socklen_t len = sizeof s->server;
        struct pxf_error err = {0};

        cfg.max_transfers = 1 + take(s) % 8;
        cfg.max_per_source = 1 + take(s) % 4;
        cfg.timeout_ms = 1 + take(s) % 4;
        cfg.max_retries = 1 + take(s) % 3;
        s->base = event_base_new();
        if (!s->base || tftpd_bind("127.0.0.1", 0, &s->listen_fd, &err) < 0 ||
            getsockname(s->listen_fd, (struct sockaddr *)&s->server, &len) < 0)
                abort();
        cfg.listen_fd = s->listen_fd;
        s->timeline = tl_new(4);
        cfg.observer = (struct tl_observer){observe, s->timeline};
        if (tftpd_new(s->base, &cfg, &s->tftpd, &err) < 0)
                abort();
        for (unsigned i = 0; i < CLIENTS; i++)
                client_open(&s->clients[i], i);
}

static void session_end(struct session *s)
{
        FILE *null = fopen("/dev/null", "w");

        s->tftpd = tftpd_free(s->tftpd);
        if (!null)
                abort();
        tl_write_json(s->timeline, null, pxf_wall_usec(), 1);
        tl_write_text(s->timeline, null, pxf_wall_usec(), 1);
        (void)fclose(null);
        tl_free(s->timeline);
        close(s->listen_fd);
        for (unsigned i = 0; i < CLIENTS; i++)
                close(s->clients[i].fd);
        event_base_free(s->base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct session s = {.in = data, .left = size};
        unsigned fds;

        (void)served_root();
        fds = open_fds();
        session_start(&s);
        for (unsigned i = 0; i < STEPS_MAX && s.left; i++)
                step(&s);
        session_end(&s);
        if (open_fds() != fds) {
                fprintf(stderr, "tftpd left %d descriptors open\n", (int)(open_fds() - fds));
                abort();
        }
        return 0;
}
