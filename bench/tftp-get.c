/* tftp-get: a small TFTP download client for bench/servers.sh.
 *
 * RFC 1350 read requests in octet mode, with the options blksize (RFC 2348), tsize
 * (RFC 2349) and windowsize (RFC 7440). The same client is used against every server,
 * so the numbers differ only by the server. It ACKs every windowsize-th block (or the
 * last one), ACKs the last in-order block once when it sees a gap or a stale block, and
 * re-sends its last ACK when nothing arrives for the retransmit timeout.
 *
 * On success it prints one line:
 *   bytes=N seconds=S mbps=M blksize=B windowsize=W tsize=acked|- acks_resent=R
 * (mbps is 10^6 bytes per second; blksize and windowsize are what the server accepted),
 * and exits 0. It exits 1 on a TFTP error, a timeout, or a size that differs from the
 * server's tsize or from -s; 2 on a bad command line.
 *
 *   tftp-get [-b BLKSIZE] [-w WINDOWSIZE] [-s EXPECTED_SIZE] [-o FILE] HOST PORT NAME
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OP_RRQ   1
#define OP_DATA  3
#define OP_ACK   4
#define OP_ERROR 5
#define OP_OACK  6

#define PKT_MAX      (65464 + 4)
#define TIMEOUT_MS   1000 /* re-send the last ACK after this long without a packet */
#define RETRIES_MAX  10
#define RCVBUF_BYTES (4 << 20)

struct opts {
        unsigned blksize, windowsize;
        long long expect;
        const char *out, *host, *port, *name;
};

struct xfer {
        int sock, out_fd;
        unsigned blksize, windowsize;
        long long tsize;
        uint16_t last_block; /* last block received in order */
        unsigned in_window;  /* blocks received since the last ACK */
        int gap_acked;       /* an ACK for a gap was sent and nothing new came since */
        int done;            /* the last, short block was received and acknowledged */
        unsigned long long bytes, acks_resent;
        uint8_t pkt[PKT_MAX];
};

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
        fprintf(stderr, "usage: tftp-get [-b BLKSIZE] [-w WINDOWSIZE] [-s EXPECTED_SIZE] "
                        "[-o FILE] HOST PORT NAME\n");
        exit(2);
}

static unsigned long long number(const char *s, unsigned long long max)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v > max)
                usage();
        return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
        int c;

        while ((c = getopt(argc, argv, "b:w:s:o:")) != -1) {
                switch (c) {
                case 'b':
                        o->blksize = (unsigned)number(optarg, 65464);
                        break;
                case 'w':
                        o->windowsize = (unsigned)number(optarg, 65535);
                        break;
                case 's':
                        o->expect = (long long)number(optarg, INT64_MAX);
                        break;
                case 'o':
                        o->out = optarg;
                        break;
                default:
                        usage();
                }
        }
        if (argc - optind != 3 || o->blksize < 8 || o->windowsize < 1)
                usage();
        o->host = argv[optind];
        o->port = argv[optind + 1];
        o->name = argv[optind + 2];
}

/* Appends "name\0value\0" to buf at *n. */
static int put_option(uint8_t *buf, size_t cap, size_t *n, const char *name, unsigned long v)
{
        int len = snprintf((char *)buf + *n, cap - *n, "%s%c%lu", name, '\0', v);

        if (len < 0 || (size_t)len + 1 > cap - *n)
                return -1;
        *n += (size_t)len + 1;
        return 0;
}

static size_t build_rrq(const struct opts *o, uint8_t *buf, size_t cap)
{
        size_t n = 2, name_len = strlen(o->name);

        if (name_len + 16 > cap)
                return 0;
        buf[0] = 0;
        buf[1] = OP_RRQ;
        memcpy(buf + n, o->name, name_len + 1);
        n += name_len + 1;
        memcpy(buf + n, "octet", 6);
        n += 6;
        if (put_option(buf, cap, &n, "blksize", o->blksize) < 0 ||
            put_option(buf, cap, &n, "tsize", 0) < 0)
                return 0;
        if (o->windowsize > 1 && put_option(buf, cap, &n, "windowsize", o->windowsize) < 0)
                return 0;
        return n;
}

static int send_ack(struct xfer *x, uint16_t block)
{
        uint8_t ack[4] = {0, OP_ACK, (uint8_t)(block >> 8), (uint8_t)block};

        if (send(x->sock, ack, sizeof(ack), 0) < 0) {
                fprintf(stderr, "tftp-get: send: %s\n", strerror(errno));
                return -1;
        }
        x->in_window = 0;
        return 0;
}

static int print_error(const uint8_t *p, size_t len)
{
        unsigned code = len >= 4 ? (unsigned)(p[2] << 8 | p[3]) : 0;
        int msg_len = len > 4 ? (int)strnlen((const char *)p + 4, len - 4) : 0;

        fprintf(stderr, "tftp-get: server error %u: %.*s\n", code, msg_len, (const char *)p + 4);
        return -1;
}

/* Reads the OACK's options into x; unknown ones are an error (RFC 2347). */
static int parse_oack(struct xfer *x, const uint8_t *p, size_t len)
{
        size_t i = 2;

        while (i < len) {
                const char *name = (const char *)p + i;
                size_t nl = strnlen(name, len - i);
                const char *val;
                size_t vl;

                if (i + nl + 1 >= len)
                        return -1;
                val = name + nl + 1;
                vl = strnlen(val, len - (i + nl + 1));
                if (i + nl + 1 + vl >= len)
                        return -1;
                if (strcasecmp(name, "blksize") == 0)
                        x->blksize = (unsigned)strtoul(val, NULL, 10);
                else if (strcasecmp(name, "windowsize") == 0)
                        x->windowsize = (unsigned)strtoul(val, NULL, 10);
                else if (strcasecmp(name, "tsize") == 0)
                        x->tsize = strtoll(val, NULL, 10);
                else
                        return -1;
                i += nl + 1 + vl + 1;
        }
        return x->blksize >= 8 && x->blksize <= 65464 && x->windowsize >= 1 ? 0 : -1;
}

/* Handles one DATA packet: 1 when the transfer is complete, 0 to go on, -1 on failure. */
static int on_data(struct xfer *x, const uint8_t *p, size_t len)
{
        uint16_t block = (uint16_t)(p[2] << 8 | p[3]);
        size_t payload = len - 4;

        if (block != (uint16_t)(x->last_block + 1)) {
                /* a gap, or a block already received: say once where we are */
                if (!x->gap_acked) {
                        x->gap_acked = 1;
                        x->acks_resent++;
                        return send_ack(x, x->last_block);
                }
                return 0;
        }
        if (payload > x->blksize) {
                fprintf(stderr, "tftp-get: block %u has %zu bytes (blksize %u)\n", block, payload,
                        x->blksize);
                return -1;
        }
        if (x->out_fd >= 0 && payload && write(x->out_fd, p + 4, payload) != (ssize_t)payload) {
                fprintf(stderr, "tftp-get: write: %s\n", strerror(errno));
                return -1;
        }
        x->bytes += payload;
        x->last_block = block;
        x->gap_acked = 0;
        x->in_window++;
        if (payload < x->blksize) {
                x->done = 1;
                return send_ack(x, block) < 0 ? -1 : 1;
        }
        if (x->in_window >= x->windowsize)
                return send_ack(x, block);
        return 0;
}

/* Waits for the server's first answer (OACK, DATA 1 or ERROR) from any port of the
 * server's address, then talks only to that port. Returns the packet length or -1. */
static ssize_t first_reply(struct xfer *x, const struct addrinfo *ai, const uint8_t *rrq,
                           size_t rrq_len)
{
        for (unsigned tries = 0; tries < RETRIES_MAX; tries++) {
                struct pollfd pfd = {.fd = x->sock, .events = POLLIN};
                struct sockaddr_storage from;
                socklen_t from_len = sizeof(from);
                ssize_t n;

                if (sendto(x->sock, rrq, rrq_len, 0, ai->ai_addr, ai->ai_addrlen) < 0) {
                        fprintf(stderr, "tftp-get: sendto: %s\n", strerror(errno));
                        return -1;
                }
                if (poll(&pfd, 1, TIMEOUT_MS) <= 0)
                        continue;
                n = recvfrom(x->sock, x->pkt, sizeof(x->pkt), 0, (struct sockaddr *)&from,
                             &from_len);
                if (n < 4)
                        continue;
                if (connect(x->sock, (struct sockaddr *)&from, from_len) < 0) {
                        fprintf(stderr, "tftp-get: connect: %s\n", strerror(errno));
                        return -1;
                }
                return n;
        }
        fprintf(stderr, "tftp-get: no answer to the request\n");
        return -1;
}

static int start(struct xfer *x, const struct opts *o, const struct addrinfo *ai)
{
        uint8_t rrq[512];
        size_t rrq_len = build_rrq(o, rrq, sizeof(rrq));
        ssize_t n;

        if (!rrq_len) {
                fprintf(stderr, "tftp-get: file name too long\n");
                return -1;
        }
        n = first_reply(x, ai, rrq, rrq_len);
        if (n < 0)
                return -1;
        switch (x->pkt[1]) {
        case OP_OACK:
                if (parse_oack(x, x->pkt, (size_t)n) < 0) {
                        fprintf(stderr, "tftp-get: malformed OACK\n");
                        return -1;
                }
                return send_ack(x, 0);
        case OP_DATA: /* no options acknowledged: RFC 1350 defaults */
                x->blksize = 512;
                x->windowsize = 1;
                return on_data(x, x->pkt, (size_t)n) < 0 ? -1 : 0;
        case OP_ERROR:
                return print_error(x->pkt, (size_t)n);
        default:
                fprintf(stderr, "tftp-get: unexpected opcode %u\n", x->pkt[1]);
                return -1;
        }
}

static int run(struct xfer *x)
{
        unsigned idle = 0;

        while (!x->done) {
                struct pollfd pfd = {.fd = x->sock, .events = POLLIN};
                ssize_t n;
                int r;

                if (poll(&pfd, 1, TIMEOUT_MS) <= 0) {
                        if (++idle > RETRIES_MAX) {
                                fprintf(stderr, "tftp-get: timed out after block %u\n",
                                        x->last_block);
                                return -1;
                        }
                        x->acks_resent++;
                        if (send_ack(x, x->last_block) < 0)
                                return -1;
                        continue;
                }
                n = recv(x->sock, x->pkt, sizeof(x->pkt), 0);
                if (n < 4)
                        continue;
                idle = 0;
                if (x->pkt[1] == OP_ERROR)
                        return print_error(x->pkt, (size_t)n);
                if (x->pkt[1] == OP_OACK) /* our ACK 0 was lost */
                        r = x->last_block == 0 ? send_ack(x, 0) : 0;
                else if (x->pkt[1] == OP_DATA)
                        r = on_data(x, x->pkt, (size_t)n);
                else
                        r = 0;
                if (r < 0)
                        return -1;
        }
        return 0;
}

static int open_socket(const struct opts *o, struct addrinfo **ai)
{
        struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
        int rcvbuf = RCVBUF_BYTES, r, fd;

        r = getaddrinfo(o->host, o->port, &hints, ai);
        if (r != 0) {
                fprintf(stderr, "tftp-get: %s: %s\n", o->host, gai_strerror(r));
                return -1;
        }
        fd = socket((*ai)->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                fprintf(stderr, "tftp-get: socket: %s\n", strerror(errno));
                return -1;
        }
        /* a window of large blocks must fit in the receive buffer; SO_RCVBUFFORCE works
         * as root beyond net.core.rmem_max, SO_RCVBUF up to it otherwise */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        return fd;
}

int main(int argc, char **argv)
{
        struct opts o = {.blksize = 512, .windowsize = 1, .expect = -1};
        static struct xfer x = {.out_fd = -1, .blksize = 512, .windowsize = 1, .tsize = -1};
        struct addrinfo *ai = NULL;
        double t0, secs;

        parse_args(argc, argv, &o);
        if (o.out) {
                x.out_fd = open(o.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (x.out_fd < 0) {
                        fprintf(stderr, "tftp-get: %s: %s\n", o.out, strerror(errno));
                        return 1;
                }
        }
        x.sock = open_socket(&o, &ai);
        if (x.sock < 0)
                return 1;
        t0 = now();
        if (start(&x, &o, ai) < 0 || run(&x) < 0)
                return 1;
        secs = now() - t0;
        freeaddrinfo(ai);
        if (x.out_fd >= 0 && close(x.out_fd) < 0) {
                fprintf(stderr, "tftp-get: %s: %s\n", o.out, strerror(errno));
                return 1;
        }
        if ((x.tsize >= 0 && (unsigned long long)x.tsize != x.bytes) ||
            (o.expect >= 0 && (unsigned long long)o.expect != x.bytes)) {
                fprintf(stderr, "tftp-get: got %llu bytes, expected %lld\n", x.bytes,
                        x.tsize >= 0 ? x.tsize : o.expect);
                return 1;
        }
        printf("bytes=%llu seconds=%.3f mbps=%.1f blksize=%u windowsize=%u tsize=%s "
               "acks_resent=%llu\n",
               x.bytes, secs, secs > 0 ? (double)x.bytes / 1e6 / secs : 0.0, x.blksize,
               x.windowsize, x.tsize >= 0 ? "acked" : "-", x.acks_resent);
        return 0;
}
