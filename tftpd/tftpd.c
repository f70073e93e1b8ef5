/* tftpd: listening socket, request checks and confinement; see tftpd.h. The transfers
 * themselves are in tftpd-transfer.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "tftpd/tftpd-internal.h"

#define LISTEN_BATCH 64 /* requests read per wakeup, so transfers are not starved */

/* ---- binding ---------------------------------------------------------------------- */

static int parse_address(const char *address, uint16_t port, struct sockaddr_storage *ret,
                         socklen_t *ret_len)
{
        struct sockaddr_in *in = (struct sockaddr_in *)ret;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

        memset(ret, 0, sizeof *ret);
        if (!address || address[0] == '\0')
                address = "0.0.0.0";
        if (inet_pton(AF_INET, address, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                *ret_len = sizeof *in;
                return 0;
        }
        if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                *ret_len = sizeof *in6;
                return 0;
        }
        return -EINVAL;
}

static int enable_pktinfo(int fd, int family)
{
        int one = 1, r;

        if (family == AF_INET)
                r = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        else
                r = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        return r < 0 ? -errno : 0;
}

int tftpd_bind(const char *address, uint16_t port, int *ret_fd, struct pxf_error *err)
{
        _cleanup_close_ int fd = -1;
        struct sockaddr_storage sa;
        socklen_t len;
        int r;

        r = parse_address(address, port, &sa, &len);
        if (r < 0)
                return pxf_error_set(err, r, "tftp: '%s' is not an IP address", address);
        fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
        if (fd < 0)
                return pxf_error_set(err, -errno, "tftp: socket: %s", strerror(errno));
        r = enable_pktinfo(fd, sa.ss_family);
        if (r < 0)
                return pxf_error_set(err, r, "tftp: packet info: %s", strerror(-r));
        if (bind(fd, (struct sockaddr *)&sa, len) < 0)
                return pxf_error_set(err, -errno, "tftp: binding %s port %u: %s",
                                     address ? address : "0.0.0.0", port, strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int tftpd_local_port(int fd)
{
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;

        if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                return -errno;
        if (sa.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&sa)->sin_port);
        if (sa.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        return -EAFNOSUPPORT;
}

int tftpd_reply_socket(const struct tftpd_peer *peer)
{
        _cleanup_close_ int fd = -1;

        fd = socket(peer->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
        if (fd < 0)
                return -errno;
        /* Replies must come from the address the client talked to. If it is gone, the
         * kernel's choice is the best left. */
        if (peer->local.ss_family == peer->addr.ss_family &&
            bind(fd, (const struct sockaddr *)&peer->local, peer->local_len) < 0)
                log_debug("tftp: binding a reply socket for %s: %s", peer->name, strerror(errno));
        return TAKE_FD(fd);
}

/* ---- logging ---------------------------------------------------------------------- */

void tftpd_log(struct tftpd *t, const char *fmt, ...)
{
        uint64_t held_back;
        bool ok = pxf_rate_limit_take(&t->log_rate, pxf_now_usec(), &held_back);
        va_list ap;

        if (held_back > 0)
                log_info("tftp: %" PRIu64 " log lines held back (more than %d a second)", held_back,
                         TFTPD_LOG_PER_SECOND);
        va_start(ap, fmt);
        pxf_logv(ok ? PXF_LOG_INFO : PXF_LOG_DEBUG, fmt, ap);
        va_end(ap);
}

void tftpd_observe(struct tftpd *t, const struct tftpd_peer *peer, const char *path, uint64_t bytes,
                   uint64_t size, enum tl_result result)
{
        tl_observer_tell(&t->observer, (const struct sockaddr *)&peer->addr, peer->addr_len,
                         TL_PROTO_TFTP, path, bytes, size, result);
}

/* ---- requests --------------------------------------------------------------------- */

/* Answers with an ERROR from a fresh socket (the server's TID for this client). Returns 0:
 * a refusal is a handled request. */
static int refuse(struct tftpd *t, const struct tftpd_peer *peer, const char *name, uint16_t code,
                  const char *msg)
{
        char esc[TFTP_ESCAPED_MAX];
        uint8_t pkt[TFTP_HEADER_SIZE + TFTP_ERROR_MSG_MAX + 1];
        _cleanup_close_ int fd = -1;
        int len;

        t->stats.refused++;
        tftpd_log(t, "tftp: %s %s refused: error %u, %s", peer->name,
                  name ? tftp_escape(name, esc) : "(malformed request)", code, msg);
        len = tftp_build_error(pkt, sizeof pkt, code, msg);
        fd = tftpd_reply_socket(peer);
        if (len < 0 || fd < 0)
                return 0;
        if (sendto(fd, pkt, (size_t)len, 0, (const struct sockaddr *)&peer->addr, peer->addr_len) <
            0)
                log_debug("tftp: sending an error to %s: %s", peer->name, strerror(errno));
        return 0;
}

static uint16_t open_error_code(int r)
{
        switch (r) {
        case -ENOENT:
        case -ENOTDIR:
        case -ENAMETOOLONG:
                return TFTP_ERR_NOT_FOUND;
        case -EACCES:
        case -EPERM:
        case -EXDEV: /* RESOLVE_BENEATH: the path leads out of the root */
        case -ELOOP:
        case -EISDIR:
                return TFTP_ERR_ACCESS;
        default:
                return TFTP_ERR_UNDEFINED;
        }
}

static const char *open_error_text(uint16_t code)
{
        switch (code) {
        case TFTP_ERR_NOT_FOUND:
                return "file not found";
        case TFTP_ERR_ACCESS:
                return "access violation";
        default:
                return "cannot open file";
        }
}

static int serve(struct tftpd *t, const struct tftpd_peer *peer, const struct tftp_request *req)
{
        char path[TFTP_REQUEST_MAX];
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        r = tftp_clean_filename(req->filename, path, sizeof path);
        if (r < 0)
                return refuse(t, peer, req->filename, TFTP_ERR_ACCESS, "access violation");
        fd = t->opener.open ? t->opener.open(t->opener.ctx, (const struct sockaddr *)&peer->addr,
                                             peer->addr_len, path, &st)
                            : pxf_open_beneath(t->root, path, &st);
        if (fd < 0) {
                uint16_t code = open_error_code(fd);

                char shown[TFTP_ESCAPED_MAX];
                if (code == TFTP_ERR_UNDEFINED)
                        log_debug("tftp: opening %s beneath the root: %s", tftp_escape(path, shown),
                                  strerror(-fd));
                if (code == TFTP_ERR_NOT_FOUND)
                        tftpd_observe(t, peer, path, 0, 0, TL_RESULT_NOT_FOUND);
                return refuse(t, peer, req->filename, code, open_error_text(code));
        }
        /* A failure to start is in the transfer's log line already. */
        (void)tftpd_transfer_start(t, &(struct tftpd_start){.peer = peer,
                                                            .req = req,
                                                            .path = path,
                                                            .file_fd = TAKE_FD(fd),
                                                            .size = (uint64_t)st.st_size});
        return 0;
}

/* Limits are met by leaving requests unanswered, not refused: PXE firmware gives up on an
 * ERROR but resends an unanswered request, which a freed slot then serves. Many machines
 * of a rack booting at once must all get through, and no single host may keep them out. */
static int admit(struct tftpd *t, const struct tftpd_peer *peer, const struct tftp_request *req)
{
        char esc[TFTP_ESCAPED_MAX];

        if (tftpd_transfer_running(t, peer)) {
                t->stats.joined++; /* a resent request: the transfer's timer answers it */
                return 0;
        }
        if (tftpd_transfers_from(t, peer) >= t->max_per_source) {
                t->stats.per_source_held++;
                tftpd_log(t, "tftp: %s %s held back: %u transfers to this address running",
                          peer->name, tftp_escape(req->filename, esc), t->max_per_source);
                return 0;
        }
        if (t->stats.active >= t->max_transfers && !tftpd_transfer_evict_unproven(t)) {
                t->stats.deferred++;
                tftpd_log(t, "tftp: %s %s held back: %u transfers running (the client retries)",
                          peer->name, tftp_escape(req->filename, esc), t->stats.active);
                return 0;
        }
        return serve(t, peer, req);
}

static int handle_request(struct tftpd *t, const uint8_t *pkt, size_t len,
                          const struct tftpd_peer *peer)
{
        struct tftp_request req;
        int r;

        /* Only requests are answered here: replying to stray DATA, ACK or ERROR packets
         * could start an endless exchange with another server. */
        if (len < 2 || pkt[0] != 0 || (pkt[1] != TFTP_OP_RRQ && pkt[1] != TFTP_OP_WRQ)) {
                log_debug("tftp: %s: dropped a %zu-byte packet that is no request", peer->name,
                          len);
                return 0;
        }
        r = tftp_parse_request(pkt, len, &req);
        if (r == -ENOTUNIQ || r == -E2BIG)
                return refuse(t, peer, NULL, TFTP_ERR_OPTION_REFUSED, "bad options");
        if (r < 0)
                return refuse(t, peer, NULL, TFTP_ERR_ILLEGAL_OP, "malformed request");
        if (req.opcode == TFTP_OP_WRQ)
                return refuse(t, peer, req.filename, TFTP_ERR_ACCESS, "read-only server");
        if (req.mode != TFTP_MODE_OCTET)
                return refuse(t, peer, req.filename, TFTP_ERR_ILLEGAL_OP,
                              "only octet mode is supported");
        return admit(t, peer, &req);
}

/* ---- listening -------------------------------------------------------------------- */

static void peer_name(struct tftpd_peer *p)
{
        char host[PXF_ADDR_TEXT_MAX];
        unsigned port =
            pxf_addr_text((const struct sockaddr *)&p->addr, p->addr_len, host, sizeof host);

        (void)snprintf(p->name, sizeof p->name, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
                       port);
}

/* Takes the local address from IP_PKTINFO / IPV6_PKTINFO. */
static void local_from_cmsg(struct msghdr *m, struct tftpd_peer *p)
{
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                        struct in_pktinfo pi;
                        struct sockaddr_in *in = (struct sockaddr_in *)&p->local;

                        memcpy(&pi, CMSG_DATA(c), sizeof pi);
                        in->sin_family = AF_INET;
                        in->sin_addr = pi.ipi_spec_dst;
                        p->local_len = sizeof *in;
                } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                        struct in6_pktinfo pi;
                        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->local;

                        memcpy(&pi, CMSG_DATA(c), sizeof pi);
                        in6->sin6_family = AF_INET6;
                        in6->sin6_addr = pi.ipi6_addr;
                        in6->sin6_scope_id = pi.ipi6_ifindex;
                        p->local_len = sizeof *in6;
                }
        }
}

/* Reads one datagram; returns its length, or a negative errno (-EAGAIN when drained). */
static ssize_t receive(int fd, uint8_t *buf, size_t cap, struct tftpd_peer *p)
{
        char
            control[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct iovec iov = {.iov_base = buf, .iov_len = cap};
        struct msghdr m = {
            .msg_name = &p->addr,
            .msg_namelen = sizeof p->addr,
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control,
            .msg_controllen = sizeof control,
        };
        ssize_t n;

        memset(p, 0, sizeof *p);
        n = recvmsg(fd, &m, 0);
        if (n < 0)
                return -errno;
        p->addr_len = m.msg_namelen;
        local_from_cmsg(&m, p);
        peer_name(p);
        /* A truncated datagram is over TFTP_REQUEST_MAX; report it as one byte more. */
        return (m.msg_flags & MSG_TRUNC) ? (ssize_t)cap : n;
}

static void on_listen_readable(evutil_socket_t fd, short what, void *arg)
{
        struct tftpd *t = arg;
        uint8_t buf[TFTP_REQUEST_MAX + 1];

        (void)what;
        for (int i = 0; i < LISTEN_BATCH; i++) {
                struct tftpd_peer peer;
                ssize_t n = receive(fd, buf, sizeof buf, &peer);

                if (n == -EAGAIN || n == -EWOULDBLOCK)
                        break;
                if (n < 0) {
                        /* ICMP errors of earlier replies land here; not ours to handle. */
                        log_debug("tftp: receiving a request: %s", strerror((int)-n));
                        continue;
                }
                if (peer.addr.ss_family != AF_INET && peer.addr.ss_family != AF_INET6)
                        continue;
                (void)handle_request(t, buf, (size_t)n, &peer);
        }
}

/* ---- server ----------------------------------------------------------------------- */

static int check_root(const char *root, struct pxf_error *err)
{
        int r = pxf_check_beneath(root);

        if (r == -ENOSYS)
                return pxf_error_set(err, r, "tftp: openat2 (needs Linux 5.6): %s", strerror(-r));
        if (r < 0)
                return pxf_error_set(err, r, "tftp: root '%s': %s", root, strerror(-r));
        return 0;
}

static unsigned or_default(unsigned v, unsigned def)
{
        return v ? v : def;
}

static int apply_config(struct tftpd *t, const struct tftpd_config *cfg, struct pxf_error *err)
{
        t->log_rate.per_second = TFTPD_LOG_PER_SECOND;
        t->max_transfers = or_default(cfg->max_transfers, TFTPD_MAX_TRANSFERS_DEFAULT);
        t->timeout_ms = or_default(cfg->timeout_ms, TFTPD_TIMEOUT_MS_DEFAULT);
        t->max_retries = or_default(cfg->max_retries, TFTPD_MAX_RETRIES_DEFAULT);
        t->max_per_source = or_default(cfg->max_per_source, TFTPD_MAX_PER_SOURCE_DEFAULT);
        if (t->max_per_source > t->max_transfers)
                t->max_per_source = t->max_transfers;
        t->limits.max_blksize = (uint16_t)or_default(cfg->max_blksize, TFTPD_MAX_BLKSIZE_DEFAULT);
        t->limits.max_windowsize =
            (uint16_t)or_default(cfg->max_windowsize, TFTPD_MAX_WINDOWSIZE_DEFAULT);
        if (t->max_transfers > TFTPD_MAX_TRANSFERS_LIMIT ||
            t->timeout_ms > TFTPD_TIMEOUT_MS_LIMIT || t->max_retries > TFTPD_MAX_RETRIES_LIMIT ||
            t->limits.max_blksize < TFTP_BLKSIZE_MIN || t->limits.max_blksize > TFTP_BLKSIZE_MAX ||
            t->limits.max_windowsize > TFTPD_MAX_WINDOWSIZE_LIMIT)
                return pxf_error_set(err, -EINVAL,
                                     "tftp: a limit in the configuration is out of range");
        if (!cfg->root || cfg->listen_fd < 0)
                return pxf_error_set(err, -EINVAL, "tftp: no root or no listening socket");
        return 0;
}

void tftpd_config_limits(struct tftpd_config *c, const struct tftpd_limits *l)
{
#define TFTPD_SET_LIMIT(field, ...)                                                                \
        if (l->field)                                                                              \
                c->field = l->field;
        TFTPD_LIMITS(TFTPD_SET_LIMIT)
#undef TFTPD_SET_LIMIT
}

int tftpd_new(struct event_base *base, const struct tftpd_config *cfg, struct tftpd **ret,
              struct pxf_error *err)
{
        struct tftpd *t = pxf_calloc(1, sizeof *t);
        int r;

        t->listen_fd = -1;
        r = apply_config(t, cfg, err);
        if (r >= 0)
                r = check_root(cfg->root, err);
        if (r < 0) {
                free(t);
                return r;
        }
        t->base = base;
        t->root = pxf_strdup(cfg->root);
        t->opener = cfg->opener;
        t->listen_fd = cfg->listen_fd;
        t->observer = cfg->observer;
        t->ev_listen = event_new(base, t->listen_fd, EV_READ | EV_PERSIST, on_listen_readable, t);
        if (!t->ev_listen || event_add(t->ev_listen, NULL) < 0) {
                tftpd_free(t);
                return pxf_error_set(err, -ENOMEM, "tftp: cannot register the listening socket");
        }
        *ret = t;
        return 0;
}

struct tftpd *tftpd_free(struct tftpd *t)
{
        if (!t)
                return NULL;
        while (t->transfers)
                tftpd_transfer_end(t->transfers, "stopped: server shutting down", &t->stats.failed);
        if (t->ev_listen)
                event_free(t->ev_listen);
        free(t->root);
        free(t);
        return NULL;
}

void tftpd_get_stats(const struct tftpd *t, struct tftpd_stats *ret)
{
        *ret = t->stats;
}
