/* Loopback tests of the TFTP server: the server runs on 127.0.0.1, port 0, on an event
 * base that the test drives itself, and the test plays the client(s) with raw UDP sockets
 * registered on the same base. Everything runs in one thread, so the server's statistics
 * can be read directly and no test depends on scheduling. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"
#include <event2/event.h>

#include "common/common.h"
#include "tftpd/tftp-packet.h"
#include "tftpd/tftpd.h"

#define DROP          (-1) /* expected: no answer at all */
#define QUIET_MS      150  /* how long "no answer" is watched for */
#define CLIENT_IDLE_S 10   /* a client that hears nothing this long fails its test */

struct fx {
        char *dir;  /* temporary directory */
        char *root; /* dir/root, served */
        struct event_base *base;
        int listen_fd;
        struct sockaddr_in server; /* 127.0.0.1:<listen port> */
        struct tftpd *tftpd;
        uint32_t client_host; /* host order; the event-driven clients' address (0: 127.0.0.1) */
};

/* ---- files ------------------------------------------------------------------------ */

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* Writes size pseudo-random bytes (never periodic on block boundaries, so a misplaced
 * block changes the hash) to root/name and returns their hash. */
static uint64_t write_pattern(const char *path, uint64_t size)
{
        _cleanup_free_ uint8_t *buf = pxf_calloc(1, 65536);
        uint64_t x = size * 0x9e3779b97f4a7c15ull + 1, h = FNV_INIT;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        for (uint64_t done = 0; done < size;) {
                size_t n = size - done < 65536 ? (size_t)(size - done) : 65536;

                for (size_t i = 0; i < n; i++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        buf[i] = (uint8_t)x;
                }
                assert_int_equal(write(fd, buf, n), (ssize_t)n);
                h = fnv1a(h, buf, n);
                done += n;
        }
        assert_int_equal(close(fd), 0);
        return h;
}

static uint64_t make_file(struct fx *f, const char *name, uint64_t size)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", f->root, name);

        return write_pattern(path, size);
}

static void make_link(const char *parent, const char *name, const char *target)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", parent, name);

        assert_int_equal(symlink(target, path), 0);
}

static void make_dir(const char *parent, const char *name)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", parent, name);

        assert_int_equal(mkdir(path, 0755), 0);
}

/* ---- fixture ---------------------------------------------------------------------- */

static int fx_setup(void **state)
{
        struct fx *f = pxf_calloc(1, sizeof *f);

        f->dir = pxf_strdup("/tmp/pxf-test-tftpd-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        f->root = pxf_asprintf("%s/root", f->dir);
        if (mkdir(f->root, 0755) < 0)
                return -1;
        f->base = event_base_new();
        f->listen_fd = -1;
        *state = f;
        return f->base ? 0 : -1;
}

static int fx_teardown(void **state)
{
        struct fx *f = *state;
        int r;

        f->tftpd = tftpd_free(f->tftpd);
        if (f->listen_fd >= 0)
                (void)close(f->listen_fd);
        event_base_free(f->base);
        r = pxf_rm_rf(f->dir);
        free(f->root);
        free(f->dir);
        free(f);
        return r;
}

/* Starts the server with cfg (root and listen_fd are filled in here). */
static void start_server_on(struct fx *f, const char *address, struct tftpd_config cfg)
{
        struct pxf_error err = {0};
        int port;

        assert_int_equal(tftpd_bind(address, 0, &f->listen_fd, &err), 0);
        port = tftpd_local_port(f->listen_fd);
        assert_true(port > 0);
        f->server = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        f->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (!cfg.root)
                cfg.root = f->root;
        cfg.listen_fd = f->listen_fd;
        if (tftpd_new(f->base, &cfg, &f->tftpd, &err) < 0)
                fail_msg("tftpd_new: %s", err.msg);
}

static void start_server(struct fx *f, struct tftpd_config cfg)
{
        start_server_on(f, "127.0.0.1", cfg);
}

static struct tftpd_stats stats(struct fx *f)
{
        struct tftpd_stats s;

        tftpd_get_stats(f->tftpd, &s);
        return s;
}

/* ---- event-driven waiting --------------------------------------------------------- */

struct waiter {
        bool done;
        short what;
};

static void on_wait(evutil_socket_t fd, short what, void *arg)
{
        struct waiter *w = arg;

        (void)fd;
        w->done = true;
        w->what = what;
}

/* Runs the loop (so the server works) until fd is readable or timeout_ms pass; fd -1
 * just runs the loop for timeout_ms. Returns whether fd became readable. */
static bool wait_for(struct fx *f, int fd, unsigned timeout_ms)
{
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
        struct waiter w = {0};
        struct event *ev = event_new(f->base, fd, fd >= 0 ? EV_READ : 0, on_wait, &w);

        assert_non_null(ev);
        assert_int_equal(event_add(ev, &tv), 0);
        while (!w.done)
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        event_free(ev);
        return w.what & EV_READ;
}

static void pump(struct fx *f, unsigned ms)
{
        (void)wait_for(f, -1, ms);
}

/* ---- raw client ------------------------------------------------------------------- */

/* A client socket on host (host order; any 127.x.y.z is loopback), so that tests can
 * play several machines. */
static int client_socket_from(uint32_t host)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        assert_true(fd >= 0);
        sa.sin_addr.s_addr = htonl(host);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        return fd;
}

static int client_socket(void)
{
        return client_socket_from(INADDR_LOOPBACK);
}

static void send_to(int fd, const struct sockaddr_in *to, const void *pkt, size_t len)
{
        assert_int_equal(sendto(fd, pkt, len, 0, (const struct sockaddr *)to, sizeof *to),
                         (ssize_t)len);
}

static void send_ack(int fd, const struct sockaddr_in *to, uint16_t block)
{
        uint8_t pkt[4];

        assert_int_equal(tftp_build_ack(pkt, sizeof pkt, block), 4);
        send_to(fd, to, pkt, 4);
}

/* Receives one datagram within timeout_ms; returns its length or -ETIMEDOUT. */
static ssize_t recv_pkt(struct fx *f, int fd, uint8_t *buf, size_t cap, unsigned timeout_ms,
                        struct sockaddr_in *from)
{
        socklen_t len = sizeof *from;
        ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &len);

        if (n >= 0)
                return n;
        if (!wait_for(f, fd, timeout_ms))
                return -ETIMEDOUT;
        len = sizeof *from;
        n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &len);
        assert_true(n >= 0);
        return n;
}

static uint16_t u16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

/* Builds "\0\1name\0octet\0" plus name/value pairs from a NULL-terminated list. */
static size_t rrq(uint8_t *buf, size_t cap, const char *name, const char *const *opts)
{
        size_t len = 2;

        buf[0] = 0;
        buf[1] = TFTP_OP_RRQ;
        for (const char *s = name; s; s = NULL) {
                assert_true(len + strlen(s) + 7 < cap);
                memcpy(buf + len, s, strlen(s) + 1);
                len += strlen(s) + 1;
                memcpy(buf + len, "octet", 6);
                len += 6;
        }
        for (size_t i = 0; opts && opts[i]; i++) {
                assert_true(len + strlen(opts[i]) + 1 < cap);
                memcpy(buf + len, opts[i], strlen(opts[i]) + 1);
                len += strlen(opts[i]) + 1;
        }
        return len;
}

/* Sends an RRQ and returns the first answer's error code, or -1 if it was not an ERROR
 * (DROP when nothing came). */
static int first_answer(struct fx *f, const void *pkt, size_t len)
{
        uint8_t buf[2048];
        struct sockaddr_in from;
        _cleanup_close_ int fd = client_socket();
        ssize_t n;

        send_to(fd, &f->server, pkt, len);
        n = recv_pkt(f, fd, buf, sizeof buf, QUIET_MS, &from);
        if (n == -ETIMEDOUT)
                return DROP;
        assert_true(n >= 4);
        if (u16(buf) != TFTP_OP_ERROR)
                return -2;
        assert_int_equal(buf[n - 1], 0); /* the message is NUL-terminated */
        return u16(buf + 2);
}

static int request_error(struct fx *f, const char *name)
{
        uint8_t pkt[TFTP_REQUEST_MAX * 2];

        return first_answer(f, pkt, rrq(pkt, sizeof pkt, name, NULL));
}

/* ---- event-driven downloading client ------------------------------------------------ */

struct client {
        struct fx *f;
        int fd;
        struct event *ev;
        const char *name;
        const char *const *opts;
        unsigned dup_acks; /* extra copies of every ACK */
        struct sockaddr_in tid;
        bool have_tid, done, got_oack;
        uint16_t blksize, window, expected;
        unsigned in_window;
        int error_code; /* -1: none; -2: the client gave up */
        uint64_t bytes, hash, data_packets, stale_packets, foreign;
        char oack[256];
};

static void client_ack(struct client *c, uint16_t block)
{
        for (unsigned i = 0; i <= c->dup_acks; i++)
                send_ack(c->fd, &c->tid, block);
}

/* Records the OACK as "name=value,..." and takes blksize and windowsize from it. */
static void client_oack(struct client *c, const uint8_t *p, size_t n)
{
        size_t pos = 2, out = 0;

        c->got_oack = true;
        while (pos < n) {
                const char *name = (const char *)p + pos;
                const char *value = name + strlen(name) + 1;
                uint64_t v = 0;

                assert_true(pos + strlen(name) + strlen(value) + 2 <= n);
                out += (size_t)snprintf(c->oack + out, sizeof c->oack - out, "%s%s=%s",
                                        out ? "," : "", name, value);
                assert_int_equal(tftp_parse_uint(value, UINT64_MAX, &v), 0);
                if (strcmp(name, "blksize") == 0)
                        c->blksize = (uint16_t)v;
                if (strcmp(name, "windowsize") == 0)
                        c->window = (uint16_t)v;
                pos += strlen(name) + strlen(value) + 2;
        }
        client_ack(c, 0);
}

static void client_data(struct client *c, const uint8_t *p, size_t n)
{
        uint16_t block = u16(p + 2);
        size_t payload = n - 4;

        c->data_packets++;
        if (block != c->expected) {
                c->stale_packets++;
                /* RFC 7440: after a gap, acknowledge the last block received in order. */
                if ((uint16_t)(block - c->expected) < 0x8000) {
                        client_ack(c, (uint16_t)(c->expected - 1));
                        c->in_window = 0;
                }
                return;
        }
        c->hash = fnv1a(c->hash, p + 4, payload);
        c->bytes += payload;
        c->expected++;
        if (payload < c->blksize) {
                client_ack(c, block);
                c->done = true;
        } else if (++c->in_window >= c->window) {
                client_ack(c, block);
                c->in_window = 0;
        }
}

static void client_packet(struct client *c, const uint8_t *p, size_t n,
                          const struct sockaddr_in *from)
{
        if (!c->have_tid) {
                c->tid = *from;
                c->have_tid = true;
        } else if (from->sin_port != c->tid.sin_port) {
                c->foreign++;
                return;
        }
        assert_true(n >= 4);
        switch (u16(p)) {
        case TFTP_OP_ERROR:
                c->error_code = u16(p + 2);
                c->done = true;
                break;
        case TFTP_OP_OACK:
                assert_false(c->got_oack || c->data_packets);
                client_oack(c, p, n);
                break;
        case TFTP_OP_DATA:
                client_data(c, p, n);
                break;
        default:
                fail_msg("unexpected opcode %u", u16(p));
        }
}

static void on_client(evutil_socket_t fd, short what, void *arg)
{
        struct client *c = arg;
        uint8_t buf[70000];

        if (what & EV_TIMEOUT) {
                c->error_code = -2;
                c->done = true;
        }
        while (!c->done) {
                struct sockaddr_in from;
                socklen_t len = sizeof from;
                ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);

                if (n < 0)
                        break;
                client_packet(c, buf, (size_t)n, &from);
        }
        if (c->done)
                event_del(c->ev);
}

static void client_start(struct fx *f, struct client *c, const char *name, const char *const *opts)
{
        struct timeval idle = {.tv_sec = CLIENT_IDLE_S};
        uint8_t pkt[TFTP_REQUEST_MAX];

        c->f = f;
        c->name = name;
        c->opts = opts;
        c->fd = client_socket_from(f->client_host ? f->client_host : INADDR_LOOPBACK);
        c->blksize = TFTP_BLKSIZE_DEFAULT;
        c->window = 1;
        c->expected = 1;
        c->error_code = -1;
        c->hash = FNV_INIT;
        c->ev = event_new(f->base, c->fd, EV_READ | EV_PERSIST, on_client, c);
        assert_non_null(c->ev);
        assert_int_equal(event_add(c->ev, &idle), 0);
        send_to(c->fd, &f->server, pkt, rrq(pkt, sizeof pkt, name, opts));
}

static void client_close(struct client *c)
{
        event_free(c->ev);
        (void)close(c->fd);
}

/* Downloads name with the given options; fills c. */
static void download(struct fx *f, struct client *c, const char *name, const char *const *opts)
{
        client_start(f, c, name, opts);
        while (!c->done)
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        /* Let the server read the final ACK, which is already in its socket. */
        assert_true(event_base_loop(f->base, EVLOOP_NONBLOCK) >= 0);
        client_close(c);
}

/* Downloads and checks size and content; returns the number of DATA packets seen. */
static uint64_t download_ok(struct fx *f, const char *name, const char *const *opts, uint64_t size,
                            uint64_t hash, struct client *ret)
{
        struct client c = {0};

        download(f, &c, name, opts);
        if (c.error_code != -1)
                fail_msg("'%s': error %d", name, c.error_code);
        assert_true(c.bytes == size);
        assert_true(c.hash == hash);
        if (ret)
                *ret = c;
        return c.data_packets;
}

#define OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- plain transfers -------------------------------------------------------------- */

static void download_plain(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "pxelinux.0", 100000);
        struct client c;

        start_server(f, (struct tftpd_config){0});
        /* 195 full blocks and one of 160 bytes, each sent once. */
        assert_int_equal(download_ok(f, "pxelinux.0", NULL, 100000, h, &c), 196);
        assert_false(c.got_oack);
        assert_int_equal(c.stale_packets, 0);
        pump(f, 10);
        assert_int_equal(stats(f).active, 0);
        assert_int_equal(stats(f).completed, 1);
}

static void download_exact_multiple_and_empty(void **state)
{
        struct fx *f = *state;
        uint64_t h1024 = make_file(f, "two-blocks", 1024);
        uint64_t h0 = make_file(f, "empty", 0);

        start_server(f, (struct tftpd_config){0});
        /* Two full blocks, then an empty one that ends the transfer. */
        assert_int_equal(download_ok(f, "two-blocks", NULL, 1024, h1024, NULL), 3);
        assert_int_equal(download_ok(f, "empty", NULL, 0, h0, NULL), 1);
        assert_int_equal(download_ok(f, "empty", OPTS("tsize", "0"), 0, h0, NULL), 1);
}

/* ---- negotiation ------------------------------------------------------------------ */

static void negotiate_all_options(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "grubx64.efi", 300000);
        struct client c;

        start_server(f, (struct tftpd_config){0});
        assert_int_equal(
            download_ok(f, "grubx64.efi",
                        OPTS("blksize", "1024", "tsize", "0", "timeout", "3", "windowsize", "4"),
                        300000, h, &c),
            293);
        assert_string_equal(c.oack, "blksize=1024,tsize=300000,timeout=3,windowsize=4");
        assert_int_equal(c.stale_packets, 0);
}

static void blksize_and_windowsize_limits(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "f", 50000);
        struct client c;

        start_server(f, (struct tftpd_config){.max_windowsize = 16});
        /* In range but above the server's maximum: lowered to 1468. */
        download_ok(f, "f", OPTS("blksize", "65464"), 50000, h, &c);
        assert_string_equal(c.oack, "blksize=1468");
        /* Out of range: not acknowledged; with nothing else, no OACK at all. */
        assert_int_equal(download_ok(f, "f", OPTS("blksize", "7"), 50000, h, &c), 98);
        assert_false(c.got_oack);
        download_ok(f, "f", OPTS("blksize", "65465", "tsize", "0"), 50000, h, &c);
        assert_string_equal(c.oack, "tsize=50000");
        /* windowsize above the maximum is lowered; 0 is out of range and ignored. */
        download_ok(f, "f", OPTS("windowsize", "1000"), 50000, h, &c);
        assert_string_equal(c.oack, "windowsize=16");
        download_ok(f, "f", OPTS("windowsize", "0", "blksize", "8"), 50000, h, &c);
        assert_string_equal(c.oack, "blksize=8");
        assert_int_equal(c.data_packets, 6251);
}

static void largest_blksize(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "f", 300000);
        struct client c;

        /* Loopback's MTU carries RFC 2348's largest block in one datagram. */
        start_server(f, (struct tftpd_config){.max_blksize = TFTP_BLKSIZE_MAX});
        assert_int_equal(
            download_ok(f, "f", OPTS("blksize", "65464", "windowsize", "2"), 300000, h, &c), 5);
        assert_string_equal(c.oack, "blksize=65464,windowsize=2");
        /* Clients still get what they ask for below the maximum. */
        assert_int_equal(download_ok(f, "f", OPTS("blksize", "9000"), 300000, h, &c), 34);
        assert_string_equal(c.oack, "blksize=9000");
}

static void unknown_options_ignored(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "f", 5000);
        struct client c;

        start_server(f, (struct tftpd_config){0});
        download_ok(f, "f", OPTS("foo", "bar"), 5000, h, &c);
        assert_false(c.got_oack);
        download_ok(f, "f", OPTS("multicast", "", "BlkSize", "1024", "rollover", "0"), 5000, h, &c);
        assert_string_equal(c.oack, "blksize=1024");
}

/* ---- retransmission --------------------------------------------------------------- */

static void lost_ack_retransmits(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], first[600], again[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();
        uint64_t t0;
        ssize_t n1, n2;

        make_file(f, "f", 700);
        start_server(f, (struct tftpd_config){.timeout_ms = 300});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", NULL));
        n1 = recv_pkt(f, fd, first, sizeof first, 1000, &tid);
        t0 = pxf_now_usec();
        assert_int_equal(n1, 516);
        /* No ACK: the same block comes again, after the timeout and not before. */
        n2 = recv_pkt(f, fd, again, sizeof again, 2000, &tid);
        assert_int_equal(n2, 516);
        assert_true(pxf_now_usec() - t0 >= 250000);
        assert_memory_equal(first, again, 516);
        send_ack(fd, &tid, 1);
        assert_int_equal(recv_pkt(f, fd, again, sizeof again, 1000, &tid), 4 + 188);
        assert_int_equal(u16(again + 2), 2);
        send_ack(fd, &tid, 2);
        pump(f, 20);
        assert_int_equal(stats(f).completed, 1);
}

static void lost_oack_ack_retransmits_oack(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();

        make_file(f, "f", 10);
        start_server(f, (struct tftpd_config){.timeout_ms = 100});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", OPTS("tsize", "0")));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 11);
        assert_memory_equal(buf, "\0\6tsize\00010\0", 11);
        /* Without ACK 0 the OACK is repeated; DATA never comes before ACK 0. */
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 11);
        assert_int_equal(u16(buf), TFTP_OP_OACK);
        send_ack(fd, &tid, 0);
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 14);
        assert_int_equal(u16(buf), TFTP_OP_DATA);
        assert_int_equal(u16(buf + 2), 1);
}

static void duplicate_acks_no_storm(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "f", 50 * 512 + 7);
        struct client c = {.dup_acks = 3};

        /* A timeout long enough that only a reaction to duplicates could add packets. */
        start_server(f, (struct tftpd_config){.timeout_ms = 5000});
        download(f, &c, "f", NULL);
        assert_int_equal(c.error_code, -1);
        assert_true(c.hash == h);
        assert_int_equal(c.data_packets, 51);
        /* The same with windows of 4: every window is sent exactly once. */
        c = (struct client){.dup_acks = 3};
        download(f, &c, "f", OPTS("windowsize", "4"));
        assert_true(c.hash == h);
        assert_int_equal(c.data_packets, 51);
        pump(f, 50);
        assert_int_equal(stats(f).completed, 2);
}

static void stale_ack_ignored(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();

        make_file(f, "f", 20 * 512);
        start_server(f, (struct tftpd_config){.timeout_ms = 2000});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", OPTS("windowsize", "4")));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 15);
        send_ack(fd, &tid, 0);
        for (uint16_t b = 1; b <= 4; b++) {
                assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
                assert_int_equal(u16(buf + 2), b);
        }
        /* ACK 0 is old, 65000 and 9 are not in flight: nothing happens. */
        send_ack(fd, &tid, 0);
        send_ack(fd, &tid, 65000);
        send_ack(fd, &tid, 9);
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, QUIET_MS, &tid), -ETIMEDOUT);
        /* The real ACK moves the window on. */
        send_ack(fd, &tid, 4);
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        assert_int_equal(u16(buf + 2), 5);
}

static void window_gap_rewinds(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();

        make_file(f, "f", 20 * 512);
        start_server(f, (struct tftpd_config){.timeout_ms = 5000});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", OPTS("windowsize", "4")));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 15);
        send_ack(fd, &tid, 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        /* RFC 7440: the client lost block 3 and acknowledges 2; sending resumes at 3 at
         * once (long before the 5 s timeout), with a full window. */
        send_ack(fd, &tid, 2);
        for (uint16_t b = 3; b <= 6; b++) {
                assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
                assert_int_equal(u16(buf + 2), b);
        }
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, QUIET_MS, &tid), -ETIMEDOUT);
}

static void vanished_client_frees_slot(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();
        unsigned repeats = 0;
        uint64_t t0;

        make_file(f, "f", 5000);
        /* Once the client has acknowledged block 1 and gone: retransmissions after 100,
         * 200, 400 ms; given up 800 ms after the last. */
        start_server(f, (struct tftpd_config){.timeout_ms = 100, .max_retries = 3});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", NULL));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        send_ack(fd, &tid, 1);
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        assert_int_equal(u16(buf + 2), 2);
        t0 = pxf_now_usec();
        assert_int_equal(stats(f).active, 1);
        while (stats(f).active > 0 && pxf_now_usec() - t0 < 5000000)
                if (recv_pkt(f, fd, buf, sizeof buf, 50, &tid) == 516) {
                        assert_int_equal(u16(buf + 2), 2);
                        repeats++;
                }
        assert_int_equal(stats(f).active, 0);
        assert_int_equal(repeats, 3);
        assert_true(pxf_now_usec() - t0 >= 1400000);
        assert_true(pxf_now_usec() - t0 < 3000000);
        assert_int_equal(stats(f).failed, 1);
}

static void client_error_ends_transfer(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();

        make_file(f, "f", 5000);
        start_server(f, (struct tftpd_config){.timeout_ms = 50});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", NULL));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        send_to(fd, &tid, "\0\5\0\0disk full\0", 14);
        pump(f, 20);
        assert_int_equal(stats(f).active, 0);
        assert_int_equal(stats(f).aborted, 1);
        /* Gone: no retransmission of block 1 after the 50 ms timeout. */
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 200, &tid), -ETIMEDOUT);
}

static void size_probe_error8(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();
        uint64_t h = make_file(f, "shimx64.efi", 123456);

        start_server(f, (struct tftpd_config){0});
        /* EDK2's probe: tsize and blksize, then ERROR 8 after the OACK. */
        send_to(fd, &f->server, pkt,
                rrq(pkt, sizeof pkt, "shimx64.efi", OPTS("tsize", "0", "blksize", "1468")));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 28);
        assert_memory_equal(buf, "\0\6blksize\0001468\0tsize\000123456\0", 28);
        send_to(fd, &tid, "\0\5\0\10User aborted the transfer\0", 30);
        pump(f, 20);
        assert_int_equal(stats(f).active, 0);
        assert_int_equal(stats(f).aborted, 1);
        /* Then the real download. */
        download_ok(f, "shimx64.efi", OPTS("blksize", "1468", "windowsize", "4"), 123456, h, NULL);
}

static void foreign_tid_gets_error5(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid, from;
        _cleanup_close_ int fd = client_socket(), stranger = client_socket();
        uint64_t h = make_file(f, "f", 1000), got = FNV_INIT;

        start_server(f, (struct tftpd_config){.timeout_ms = 2000});
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", NULL));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        got = fnv1a(got, buf + 4, 512);
        /* Another port acknowledges block 1: it gets ERROR 5, the client gets nothing. */
        send_ack(stranger, &tid, 1);
        assert_int_equal(recv_pkt(f, stranger, buf, sizeof buf, 1000, &from), 24);
        assert_int_equal(u16(buf), TFTP_OP_ERROR);
        assert_int_equal(u16(buf + 2), TFTP_ERR_UNKNOWN_TID);
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, QUIET_MS, &from), -ETIMEDOUT);
        send_to(stranger, &tid, "\0\5\0\0stop\0", 9); /* nor does a stranger's ERROR stop it */
        assert_int_equal(recv_pkt(f, stranger, buf, sizeof buf, 1000, &from), 24);
        /* ERROR 5 answers are bounded: 8 per transfer, whatever a stranger sends. */
        for (int i = 0; i < 20; i++)
                send_ack(stranger, &tid, 1);
        for (int i = 2; i < 8; i++)
                assert_int_equal(recv_pkt(f, stranger, buf, sizeof buf, 1000, &from), 24);
        assert_int_equal(recv_pkt(f, stranger, buf, sizeof buf, QUIET_MS, &from), -ETIMEDOUT);
        send_ack(fd, &tid, 1);
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &from), 4 + 488);
        got = fnv1a(got, buf + 4, 488);
        assert_true(got == h);
        send_ack(fd, &tid, 2);
        pump(f, 20);
        assert_int_equal(stats(f).completed, 1);
}

/* ---- hostile requests ------------------------------------------------------------- */

static void malformed_requests_answered_or_dropped(void **state)
{
        static const struct {
                const char *pkt;
                size_t len;
                int want;
        } cases[] = {
#define C(s, w) {s, sizeof(s) - 1, w}
            C("", DROP),
            C("\0", DROP),
            C("\xff\xff", DROP),
            C("\0\0f\0octet\0", DROP),                 /* opcode 0 */
            C("\0\3\0\1data", DROP),                   /* DATA */
            C("\0\4\0\1", DROP),                       /* ACK */
            C("\0\5\0\1x\0", DROP),                    /* ERROR */
            C("\0\6blksize\0008\0", DROP),             /* OACK */
            C("\0\11f\0octet\0", DROP),                /* opcode 9 */
            C("\0\1", TFTP_ERR_ILLEGAL_OP),            /* nothing after the opcode */
            C("\0\1hello.txt", TFTP_ERR_ILLEGAL_OP),   /* no NUL */
            C("\0\1hello.txt\0", TFTP_ERR_ILLEGAL_OP), /* no mode */
            C("\0\1hello.txt\0octet", TFTP_ERR_ILLEGAL_OP),
            C("\0\1\0octet\0", TFTP_ERR_ILLEGAL_OP), /* empty name */
            C("\0\1hello.txt\0bogus\0", TFTP_ERR_ILLEGAL_OP),
            C("\0\1hello.txt\0octet\0blksize\0", TFTP_ERR_ILLEGAL_OP),
            C("\0\1hello.txt\0octet\0\0"
              "512\0",
              TFTP_ERR_ILLEGAL_OP),
            C("\0\1hello.txt\0octet\0blksize\000512\0BLKSIZE\000512\0", TFTP_ERR_OPTION_REFUSED),
#undef C
        };
        struct fx *f = *state;
        uint64_t h = make_file(f, "hello.txt", 3000);
        uint8_t big[70000];
        uint64_t refused = 0;

        start_server(f, (struct tftpd_config){0});
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                int got = first_answer(f, cases[i].pkt, cases[i].len);

                if (got != cases[i].want)
                        fail_msg("case %zu: answer %d, expected %d", i, got, cases[i].want);
                refused += cases[i].want != DROP;
        }
        /* Oversized: a 600-byte request, a 65000-byte request, 65000 bytes of zeros. */
        memset(big, 'a', sizeof big);
        big[0] = 0;
        big[1] = TFTP_OP_RRQ;
        memcpy(big + 593, "\0octet\0", 7);
        assert_int_equal(first_answer(f, big, 600), TFTP_ERR_ILLEGAL_OP);
        memcpy(big + 64993, "\0octet\0", 7);
        assert_int_equal(first_answer(f, big, 65000), TFTP_ERR_ILLEGAL_OP);
        memset(big, 0, sizeof big);
        assert_int_equal(first_answer(f, big, 65000), DROP);
        /* 17 options. */
        {
                const char *const many[] = {"a", "1", "b", "1", "c", "1", "d", "1", "e",
                                            "1", "f", "1", "g", "1", "h", "1", "i", "1",
                                            "j", "1", "k", "1", "l", "1", "m", "1", "n",
                                            "1", "o", "1", "p", "1", "q", "1", NULL};
                uint8_t pkt[TFTP_REQUEST_MAX];

                assert_int_equal(first_answer(f, pkt, rrq(pkt, sizeof pkt, "hello.txt", many)),
                                 TFTP_ERR_OPTION_REFUSED);
        }
        assert_int_equal(stats(f).refused, refused + 3);
        assert_int_equal(stats(f).active, 0);
        /* Still serving. */
        download_ok(f, "hello.txt", NULL, 3000, h, NULL);
}

static void write_request_refused(void **state)
{
        struct fx *f = *state;

        make_file(f, "f", 10);
        start_server(f, (struct tftpd_config){0});
        assert_int_equal(first_answer(f, "\0\2f\0octet\0", 10), TFTP_ERR_ACCESS);
        assert_int_equal(first_answer(f, "\0\2new\0octet\0", 12), TFTP_ERR_ACCESS);
        assert_int_equal(access(f->root, F_OK), 0);
        {
                _cleanup_free_ char *p = pxf_asprintf("%s/new", f->root);

                assert_int_equal(access(p, F_OK), -1);
        }
}

static void modes_other_than_octet_refused(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "f", 10);
        struct client c = {0};

        start_server(f, (struct tftpd_config){0});
        assert_int_equal(first_answer(f, "\0\1f\0netascii\0", 13), TFTP_ERR_ILLEGAL_OP);
        assert_int_equal(first_answer(f, "\0\1f\0mail\0", 9), TFTP_ERR_ILLEGAL_OP);
        /* Mode names are case-insensitive: OCTET works. */
        assert_int_equal(first_answer(f, "\0\1f\0OCTET\0", 10), -2);
        download(f, &c, "f", NULL);
        assert_true(c.hash == h);
}

/* Layout for the traversal tests: root/ with a file, directories, a FIFO and symlinks;
 * outside/secret.txt next to it. */
static uint64_t make_traversal_tree(struct fx *f)
{
        _cleanup_free_ char *outside = pxf_asprintf("%s/outside", f->dir);
        _cleanup_free_ char *secret = pxf_asprintf("%s/secret.txt", outside);
        _cleanup_free_ char *fifo = pxf_asprintf("%s/fifo", f->root);

        make_dir(f->dir, "outside");
        (void)write_pattern(secret, 100);
        make_dir(f->root, "dir");
        make_dir(f->root, "sub");
        assert_int_equal(mkfifo(fifo, 0644), 0);
        make_link(f->root, "escape-abs", "/etc/passwd");
        make_link(f->root, "escape-rel", "../outside/secret.txt");
        make_link(f->root, "escape-dir", "../outside");
        make_link(f->root, "escape-self", "/proc/self/root/etc/passwd");
        make_link(f->root, "inside-link", "sub/file.bin");
        return make_file(f, "sub/file.bin", 2000);
}

static void traversal_refused(void **state)
{
        static const struct {
                const char *name;
                int want;
        } cases[] = {
            {"../outside/secret.txt", TFTP_ERR_ACCESS},
            {"sub/../../outside/secret.txt", TFTP_ERR_ACCESS},
            {"a/../../outside/secret.txt", TFTP_ERR_ACCESS},
            {"..\\outside\\secret.txt", TFTP_ERR_ACCESS},
            {"sub\\..\\..\\outside\\secret.txt", TFTP_ERR_ACCESS},
            {"/../outside/secret.txt", TFTP_ERR_ACCESS},
            /* Leading slashes are dropped: these look for root/etc/passwd. */
            {"/etc/passwd", TFTP_ERR_NOT_FOUND},
            {"//etc/passwd", TFTP_ERR_NOT_FOUND},
            {"\\etc\\passwd", TFTP_ERR_NOT_FOUND},
            {"escape-abs", TFTP_ERR_ACCESS},
            {"escape-rel", TFTP_ERR_ACCESS},
            {"escape-dir/secret.txt", TFTP_ERR_ACCESS},
            {"escape-self", TFTP_ERR_ACCESS},
            {"dir", TFTP_ERR_ACCESS},
            {"dir/", TFTP_ERR_ACCESS},
            {"sub", TFTP_ERR_ACCESS},
            {"/", TFTP_ERR_ACCESS},
            {".", TFTP_ERR_ACCESS},
            {"fifo", TFTP_ERR_ACCESS}, /* and the server does not hang opening it */
            {"sub/file.bin/x", TFTP_ERR_NOT_FOUND},
            {"sub/missing", TFTP_ERR_NOT_FOUND},
            {"bad\x01name", TFTP_ERR_ACCESS},
        };
        struct fx *f = *state;
        uint64_t h = make_traversal_tree(f);
        char longname[460];

        start_server(f, (struct tftpd_config){0});
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                int got = request_error(f, cases[i].name);

                if (got != cases[i].want)
                        fail_msg("'%s': answer %d, expected error %d", cases[i].name, got,
                                 cases[i].want);
        }
        /* A 450-byte component fits in a request but not in a file name. */
        memset(longname, 'a', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        assert_int_equal(request_error(f, longname), TFTP_ERR_NOT_FOUND);
        /* A NUL inside the name ends it; what follows is read as the mode and refused. */
        assert_int_equal(
            first_answer(f, "\0\1sub/file.bin\0/../../outside/secret.txt\0octet\0", 47),
            TFTP_ERR_ILLEGAL_OP);
        assert_int_equal(first_answer(f, "\0\1escape-rel\0\0octet\0", 20), TFTP_ERR_ILLEGAL_OP);
        /* A symlink that stays beneath the root is fine, and so is everything else. */
        download_ok(f, "inside-link", NULL, 2000, h, NULL);
        download_ok(f, "/sub/file.bin", NULL, 2000, h, NULL);
        pump(f, 20); /* the server reads the final ACK */
        assert_int_equal(stats(f).active, 0);
        assert_int_equal(stats(f).completed, 2);
}

static void separators_and_leading_slashes(void **state)
{
        struct fx *f = *state;
        uint64_t h;

        make_dir(f->root, "grub");
        h = make_file(f, "grub/grub.cfg", 777);
        start_server(f, (struct tftpd_config){0});
        download_ok(f, "grub/grub.cfg", NULL, 777, h, NULL);
        download_ok(f, "/grub/grub.cfg", NULL, 777, h, NULL);
        download_ok(f, "//grub//grub.cfg", NULL, 777, h, NULL);
        download_ok(f, "\\grub\\grub.cfg", NULL, 777, h, NULL);
        download_ok(f, "grub/./grub.cfg", NULL, 777, h, NULL);
}

static void root_symlink_swap(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *a = pxf_asprintf("%s/a", f->dir), *b = pxf_asprintf("%s/b", f->dir);
        _cleanup_free_ char *cur = pxf_asprintf("%s/current", f->dir);
        _cleanup_free_ char *tmp = pxf_asprintf("%s/current.tmp", f->dir);
        _cleanup_free_ char *fa = pxf_asprintf("%s/boot.efi", a);
        _cleanup_free_ char *fb = pxf_asprintf("%s/boot.efi", b);
        uint64_t ha, hb;
        struct client old = {0};

        make_dir(f->dir, "a");
        make_dir(f->dir, "b");
        ha = write_pattern(fa, 40000);
        hb = write_pattern(fb, 30000);
        assert_int_equal(symlink("a", cur), 0);
        start_server(f, (struct tftpd_config){.root = cur});
        /* A transfer starts on a/, the symlink is swapped to b/ in mid-transfer. */
        client_start(f, &old, "boot.efi", NULL);
        while (old.data_packets < 10)
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        assert_int_equal(symlink("b", tmp), 0);
        assert_int_equal(rename(tmp, cur), 0);
        /* A new request sees b/ at once, while the old one goes on reading a/. */
        download_ok(f, "boot.efi", NULL, 30000, hb, NULL);
        while (!old.done)
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        client_close(&old);
        assert_int_equal(old.error_code, -1);
        assert_true(old.bytes == 40000);
        assert_true(old.hash == ha);
}

/* At the cap a request is held back, unanswered: the client's resend is served once a
 * slot is free. */
static void busy_deferred(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid[3];
        _cleanup_close_ int c1 = client_socket_from(0x7f000002),
                            c2 = client_socket_from(0x7f000003),
                            c3 = client_socket_from(0x7f000004);
        size_t len = rrq(pkt, sizeof pkt, "f", NULL);

        (void)make_file(f, "f", 2000);
        start_server(f, (struct tftpd_config){.max_transfers = 2, .timeout_ms = 5000});
        send_to(c1, &f->server, pkt, len);
        send_to(c2, &f->server, pkt, len);
        assert_int_equal(recv_pkt(f, c1, buf, sizeof buf, 1000, &tid[0]), 516);
        assert_int_equal(recv_pkt(f, c2, buf, sizeof buf, 1000, &tid[1]), 516);
        /* Both clients are there: proven transfers never make way. */
        send_ack(c1, &tid[0], 1);
        send_ack(c2, &tid[1], 1);
        assert_int_equal(recv_pkt(f, c1, buf, sizeof buf, 1000, &tid[0]), 516);
        assert_int_equal(recv_pkt(f, c2, buf, sizeof buf, 1000, &tid[1]), 516);
        assert_int_equal(stats(f).active, 2);
        send_to(c3, &f->server, pkt, len);
        assert_int_equal(recv_pkt(f, c3, buf, sizeof buf, 300, &tid[2]), -ETIMEDOUT);
        assert_int_equal(stats(f).active, 2);
        assert_true(stats(f).deferred == 1);
        assert_true(stats(f).refused == 0);
        /* A slot frees up when a client gives up; the resent request is served. */
        send_to(c1, &tid[0], "\0\5\0\0bye\0", 8);
        pump(f, 20);
        assert_int_equal(stats(f).active, 1);
        send_to(c3, &f->server, pkt, len);
        assert_int_equal(recv_pkt(f, c3, buf, sizeof buf, 1000, &tid[2]), 516);
        assert_int_equal(u16(buf), TFTP_OP_DATA);
        assert_int_equal(stats(f).active, 2);
}

/* ---- hostile clients ------------------------------------------------------------- */

/* Counts what reaches fd in ms: packets of opcode op, and how many of them. */
static unsigned count_packets(struct fx *f, int fd, uint16_t op, unsigned ms)
{
        uint8_t buf[600];
        struct sockaddr_in tid;
        unsigned n = 0;
        uint64_t t0 = pxf_now_usec();

        while (pxf_now_usec() - t0 < (uint64_t)ms * 1000)
                if (recv_pkt(f, fd, buf, sizeof buf, 20, &tid) >= 4 && u16(buf) == op)
                        n++;
        return n;
}

/* A request whose source may be forged: the first packet goes out at most twice, with
 * the server's timeout (the client's timeout=255 is not trusted yet), and resent
 * requests from the same address and port join the transfer. */
static void unproven_client_gets_two_packets(void **state)
{
        struct fx *f = *state;
        uint8_t pkt[TFTP_REQUEST_MAX];
        _cleanup_close_ int plain = client_socket(), opts = client_socket();
        size_t len = rrq(pkt, sizeof pkt, "f", NULL);

        make_file(f, "f", 5000);
        start_server(f, (struct tftpd_config){.timeout_ms = 100, .max_retries = 5});
        for (int i = 0; i < 3; i++)
                send_to(plain, &f->server, pkt, len);
        assert_int_equal(count_packets(f, plain, TFTP_OP_DATA, 1500), 2);
        assert_int_equal(stats(f).joined, 2);
        assert_int_equal(stats(f).active, 0);
        assert_int_equal(stats(f).failed, 1);

        len = rrq(pkt, sizeof pkt, "f", OPTS("timeout", "255", "tsize", "0"));
        send_to(opts, &f->server, pkt, len);
        assert_int_equal(count_packets(f, opts, TFTP_OP_OACK, 1500), 2);
        assert_int_equal(stats(f).active, 0);
}

/* 520 requests from one host's ports, as in a lock-out attempt: that host gets its few
 * transfers, and another machine is served at once. */
static void one_host_cannot_lock_out_the_rest(void **state)
{
        struct fx *f = *state;
        enum { ATTACK = 520 };
        uint8_t pkt[TFTP_REQUEST_MAX];
        size_t len = rrq(pkt, sizeof pkt, "f", OPTS("timeout", "255"));
        int *fds = pxf_calloc(ATTACK, sizeof *fds);
        uint64_t h = make_file(f, "f", 70000);

        start_server(f, (struct tftpd_config){0});
        for (int i = 0; i < ATTACK; i++) {
                fds[i] = client_socket();
                send_to(fds[i], &f->server, pkt, len);
                if (i % 32 == 31)
                        pump(f, 5); /* read before the socket's buffer overflows */
        }
        pump(f, 200);
        assert_int_equal(stats(f).active, TFTPD_MAX_PER_SOURCE_DEFAULT);
        assert_int_equal(stats(f).per_source_held, ATTACK - TFTPD_MAX_PER_SOURCE_DEFAULT);
        f->client_host = 0x7f000002;
        (void)download_ok(f, "f", NULL, 70000, h, NULL);
        for (int i = 0; i < ATTACK; i++)
                (void)close(fds[i]);
        free(fds);
}

/* A full table of unproven transfers (forged sources, each its own address): the oldest
 * makes way, and a real client is served. */
static void unproven_transfers_make_way(void **state)
{
        struct fx *f = *state;
        enum { TABLE = 16, FORGED = 20 };
        uint8_t pkt[TFTP_REQUEST_MAX];
        size_t len = rrq(pkt, sizeof pkt, "f", OPTS("timeout", "255"));
        int fds[FORGED];
        uint64_t h = make_file(f, "f", 70000);

        start_server(f, (struct tftpd_config){.max_transfers = TABLE});
        for (int i = 0; i < FORGED; i++) {
                fds[i] = client_socket_from(0x7f000100u + (uint32_t)i);
                send_to(fds[i], &f->server, pkt, len);
        }
        pump(f, 200);
        assert_int_equal(stats(f).active, TABLE);
        assert_int_equal(stats(f).evicted, FORGED - TABLE);
        assert_int_equal(stats(f).deferred, 0);
        f->client_host = 0x7f000002;
        (void)download_ok(f, "f", NULL, 70000, h, NULL);
        assert_int_equal(stats(f).evicted, FORGED - TABLE + 1);
        for (int i = 0; i < FORGED; i++)
                (void)close(fds[i]);
}

/* Counts the lines of path that contain needle. */
static unsigned count_lines(const char *path, const char *needle)
{
        _cleanup_free_ char *text = NULL;
        unsigned n = 0;
        size_t len;

        assert_int_equal(pxf_read_file(path, 1 << 20, &text, &len), 0);
        for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
                end = strchr(line, '\n');
                if (end)
                        *end = '\0';
                n += strstr(line, needle) != NULL;
        }
        return n;
}

static void refusal_logs_are_bounded(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *log = pxf_asprintf("%s/stderr", f->dir);
        int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(saved >= 0 && out >= 0);
        start_server(f, (struct tftpd_config){0});
        assert_int_equal(dup2(out, STDERR_FILENO), STDERR_FILENO);
        /* A burst of 80 bad requests: every one is answered, 50 are logged. */
        for (int i = 0; i < 80; i++)
                assert_int_equal(request_error(f, "missing"), TFTP_ERR_NOT_FOUND);
        pump(f, 1100);
        /* The next second starts with a count of what was held back. */
        assert_int_equal(request_error(f, "missing"), TFTP_ERR_NOT_FOUND);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        (void)close(saved);
        (void)close(out);
        assert_int_equal(stats(f).refused, 81);
        assert_int_equal(count_lines(log, "'missing' refused"), TFTPD_LOG_PER_SECOND + 1);
        assert_int_equal(count_lines(log, "30 log lines held back"), 1);
}

/* ---- big files -------------------------------------------------------------------- */

#define ROLLOVER_SIZE (66000ull * 512 + 100) /* 66001 blocks of 512: block numbers wrap */

static void rollover_lockstep(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "big", ROLLOVER_SIZE);

        start_server(f, (struct tftpd_config){0});
        assert_int_equal(download_ok(f, "big", NULL, ROLLOVER_SIZE, h, NULL), 66001);
}

static void rollover_windowed(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "big", ROLLOVER_SIZE);
        struct client c;

        start_server(f, (struct tftpd_config){0});
        assert_int_equal(
            download_ok(f, "big", OPTS("windowsize", "16", "tsize", "0"), ROLLOVER_SIZE, h, &c),
            66001);
        assert_int_equal(c.stale_packets, 0);
}

#define CONCURRENT      100
#define CONCURRENT_SIZE (8u << 20)

static void concurrent_downloads(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "initrd", CONCURRENT_SIZE + 12345);
        struct client *c = pxf_calloc(CONCURRENT, sizeof *c);
        unsigned done = 0, max_active = 0;

        /* A rack: each machine has its own address, so no per-source cap applies. */
        start_server(
            f, (struct tftpd_config){.max_transfers = CONCURRENT, .max_per_source = CONCURRENT});
        for (unsigned i = 0; i < CONCURRENT; i++)
                client_start(f, &c[i], "initrd", OPTS("blksize", "1468", "windowsize", "16"));
        while (done < CONCURRENT) {
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
                if (stats(f).active > max_active)
                        max_active = stats(f).active;
                done = 0;
                for (unsigned i = 0; i < CONCURRENT; i++)
                        done += c[i].done;
        }
        for (unsigned i = 0; i < CONCURRENT; i++) {
                client_close(&c[i]);
                if (c[i].error_code != -1 || c[i].bytes != CONCURRENT_SIZE + 12345 ||
                    c[i].hash != h)
                        fail_msg("client %u: error %d, %llu bytes", i, c[i].error_code,
                                 (unsigned long long)c[i].bytes);
        }
        /* They really ran side by side. */
        assert_true(max_active > CONCURRENT / 2);
        free(c);
        pump(f, 50);
        assert_int_equal(stats(f).completed, CONCURRENT);
        assert_int_equal(stats(f).active, 0);
}

/* ---- addresses ------------------------------------------------------------------- */

static void wildcard_bind_replies_from_local_address(void **state)
{
        struct fx *f = *state;
        uint64_t h = make_file(f, "f", 1500);
        uint8_t pkt[TFTP_REQUEST_MAX], buf[600];
        struct sockaddr_in tid;
        _cleanup_close_ int fd = client_socket();

        /* Bound to 0.0.0.0 and asked at 127.0.0.2: the transfer's socket must use that
         * address (IP_PKTINFO), not the kernel's choice for the client, 127.0.0.1. */
        start_server_on(f, NULL, (struct tftpd_config){0});
        f->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
        send_to(fd, &f->server, pkt, rrq(pkt, sizeof pkt, "f", NULL));
        assert_int_equal(recv_pkt(f, fd, buf, sizeof buf, 1000, &tid), 516);
        assert_int_equal(ntohl(tid.sin_addr.s_addr), INADDR_LOOPBACK + 1);
        assert_true(tid.sin_port != f->server.sin_port);
        download_ok(f, "f", NULL, 1500, h, NULL);
}

static void ipv6_download(void **state)
{
        struct fx *f = *state;
        struct sockaddr_in6 srv = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        struct sockaddr_in6 cli = srv, tid;
        struct pxf_error err = {0};
        uint8_t pkt[TFTP_REQUEST_MAX], buf[1100];
        _cleanup_close_ int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        uint64_t h = make_file(f, "f", 3000), got = FNV_INIT;
        size_t len;

        if (tftpd_bind("::1", 0, &f->listen_fd, &err) < 0)
                skip(); /* no IPv6 loopback here */
        srv.sin6_port = htons((uint16_t)tftpd_local_port(f->listen_fd));
        if (tftpd_new(f->base, &(struct tftpd_config){.root = f->root, .listen_fd = f->listen_fd},
                      &f->tftpd, &err) < 0)
                fail_msg("tftpd_new: %s", err.msg);
        assert_int_equal(bind(fd, (struct sockaddr *)&cli, sizeof cli), 0);
        len = rrq(pkt, sizeof pkt, "f", OPTS("blksize", "1024"));
        assert_int_equal(sendto(fd, pkt, len, 0, (struct sockaddr *)&srv, sizeof srv),
                         (ssize_t)len);
        for (uint16_t block = 0; block <= 3; block++) {
                socklen_t sl = sizeof tid;
                ssize_t n;

                assert_true(wait_for(f, fd, 1000));
                n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&tid, &sl);
                assert_int_equal(u16(buf), block == 0 ? TFTP_OP_OACK : TFTP_OP_DATA);
                if (block > 0) {
                        assert_int_equal(u16(buf + 2), block);
                        got = fnv1a(got, buf + 4, (size_t)n - 4);
                }
                assert_int_equal(tftp_build_ack(pkt, sizeof pkt, block), 4);
                assert_int_equal(sendto(fd, pkt, 4, 0, (struct sockaddr *)&tid, sl), 4);
        }
        assert_true(got == h);
        pump(f, 20);
        assert_int_equal(stats(f).completed, 1);
}

/* ---- API ------------------------------------------------------------------------- */

static void bind_and_config_errors(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *file = pxf_asprintf("%s/file", f->root);
        struct pxf_error err = {0};
        struct tftpd *t = NULL;
        int fd = -1;

        assert_int_equal(tftpd_bind("not-an-address", 0, &fd, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not-an-address"));
        assert_int_equal(tftpd_bind("::1", 0, &fd, &err), 0);
        assert_true(tftpd_local_port(fd) > 0);
        (void)close(fd);
        assert_int_equal(tftpd_local_port(-1), -EBADF);
        assert_int_equal(tftpd_bind("127.0.0.1", 0, &f->listen_fd, &err), 0);
        (void)write_pattern(file, 1);
        struct tftpd_config bad[] = {
            {.root = "/nonexistent/pxf", .listen_fd = f->listen_fd},
            {.root = file, .listen_fd = f->listen_fd},
            {.root = NULL, .listen_fd = f->listen_fd},
            {.root = f->root, .listen_fd = -1},
            {.root = f->root, .listen_fd = f->listen_fd, .max_blksize = 7},
            {.root = f->root, .listen_fd = f->listen_fd, .max_windowsize = 1025},
            {.root = f->root, .listen_fd = f->listen_fd, .max_transfers = 5000},
            {.root = f->root, .listen_fd = f->listen_fd, .max_retries = 21},
            {.root = f->root, .listen_fd = f->listen_fd, .timeout_ms = 60001},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                err = (struct pxf_error){0};
                if (tftpd_new(f->base, &bad[i], &t, &err) >= 0)
                        fail_msg("config %zu was accepted", i);
                assert_true(err.code < 0);
                assert_true(err.msg[0] != '\0');
                assert_null(t);
        }
        assert_null(tftpd_free(NULL));
}

static void free_with_transfers_in_flight(void **state)
{
        struct fx *f = *state;
        struct client c[3] = {{0}};

        make_file(f, "f", 100000);
        start_server(f, (struct tftpd_config){0});
        for (int i = 0; i < 3; i++)
                client_start(f, &c[i], "f", NULL);
        while (stats(f).active < 3)
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        f->tftpd = tftpd_free(f->tftpd); /* ASan reports anything left behind */
        /* The listening socket is the caller's and stays open, but nobody answers. */
        assert_int_equal(request_error(f, "f"), DROP);
        for (int i = 0; i < 3; i++)
                client_close(&c[i]);
}

int main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        const struct CMUnitTest tests[] = {
            T(download_plain),
            T(download_exact_multiple_and_empty),
            T(negotiate_all_options),
            T(blksize_and_windowsize_limits),
            T(largest_blksize),
            T(unknown_options_ignored),
            T(lost_ack_retransmits),
            T(lost_oack_ack_retransmits_oack),
            T(duplicate_acks_no_storm),
            T(stale_ack_ignored),
            T(window_gap_rewinds),
            T(vanished_client_frees_slot),
            T(client_error_ends_transfer),
            T(size_probe_error8),
            T(foreign_tid_gets_error5),
            T(malformed_requests_answered_or_dropped),
            T(write_request_refused),
            T(modes_other_than_octet_refused),
            T(traversal_refused),
            T(separators_and_leading_slashes),
            T(root_symlink_swap),
            T(busy_deferred),
            T(unproven_client_gets_two_packets),
            T(one_host_cannot_lock_out_the_rest),
            T(unproven_transfers_make_way),
            T(refusal_logs_are_bounded),
            T(rollover_lockstep),
            T(rollover_windowed),
            T(concurrent_downloads),
            T(wildcard_bind_replies_from_local_address),
            T(ipv6_download),
            T(bind_and_config_errors),
            T(free_with_transfers_in_flight),
        };
#undef T

        return pxf_test_main(tests, argc, argv);
}
