/* httpd: the listener, the connection cap and the server's lifetime (see httpd.h). One
 * client's request and response live in httpd-conn.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/common.h"
#include "httpd/httpd-internal.h"

/* ---- binding ---------------------------------------------------------------------- */

static int listen_on(const struct sockaddr *sa, socklen_t salen, int *ret_fd)
{
        _cleanup_close_ int fd = -1;
        int one = 1, zero = 0;

        fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
                return -errno;
        /* "::" serves IPv4 too, whatever net.ipv6.bindv6only says. */
        if (sa->sa_family == AF_INET6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0)
                return -errno;
        if (bind(fd, sa, salen) < 0 || listen(fd, HTTPD_LISTEN_BACKLOG) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int httpd_bind(const char *address, uint16_t port, int *ret_fd, struct pxf_error *err)
{
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(port)};
        int r;

        if (!address) {
                in6.sin6_addr = in6addr_any;
                r = listen_on((struct sockaddr *)&in6, sizeof in6, ret_fd);
                if (r != -EAFNOSUPPORT)
                        goto done;
                in4.sin_addr.s_addr = htonl(INADDR_ANY);
                r = listen_on((struct sockaddr *)&in4, sizeof in4, ret_fd);
        } else if (inet_pton(AF_INET, address, &in4.sin_addr) == 1) {
                r = listen_on((struct sockaddr *)&in4, sizeof in4, ret_fd);
        } else if (inet_pton(AF_INET6, address, &in6.sin6_addr) == 1) {
                r = listen_on((struct sockaddr *)&in6, sizeof in6, ret_fd);
        } else {
                return pxf_error_set(err, -EINVAL, "http: '%s' is not an IP address", address);
        }
done:
        if (r < 0)
                return pxf_error_set(err, r, "http: listening on %s port %u: %s",
                                     address ? address : "any", port, strerror(-r));
        return 0;
}

int httpd_bound_port(int fd, uint16_t *ret_port)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;

        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET)
                *ret_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
                *ret_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        else
                return -EAFNOSUPPORT;
        return 0;
}

/* ---- accepting -------------------------------------------------------------------- */

static void update_listener(struct httpd *h)
{
        bool want = !h->paused_by_cap && !h->paused_by_error;

        if (want)
                (void)evconnlistener_enable(h->listener);
        else
                (void)evconnlistener_disable(h->listener);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *userdata)
{
        struct httpd *h = userdata;

        (void)l;
        h->stats.connections_accepted++;
        /* One host may not take the slots of a rack (256 idle keep-alive connections of
         * one client once kept everybody else out). */
        if (httpd_conns_from(h, sa) >= h->max_per_source) {
                h->stats.per_source_refused++;
                (void)close(fd);
                return;
        }
        if (h->stats.connections_open + 1 >= h->max_connections)
                (void)httpd_close_waiting(h);
        if (httpd_conn_new(h, fd, sa, salen) < 0)
                return;
        if (h->stats.connections_open >= h->max_connections && !h->paused_by_cap) {
                h->paused_by_cap = true;
                h->stats.accept_pauses++;
                update_listener(h);
        }
}

void httpd_connection_closed(struct httpd *h)
{
        h->stats.connections_open--;
        if (h->paused_by_cap && h->stats.connections_open < h->max_connections) {
                h->paused_by_cap = false;
                update_listener(h);
        }
}

static void on_accept_retry(evutil_socket_t fd, short what, void *userdata)
{
        struct httpd *h = userdata;

        (void)fd, (void)what;
        h->paused_by_error = false;
        update_listener(h);
}

/* Out of fds or memory: pause accepting for a while instead of spinning on the error. */
static void on_accept_error(struct evconnlistener *l, void *userdata)
{
        struct httpd *h = userdata;
        struct timeval tv = {HTTPD_ACCEPT_RETRY_MS / 1000, (HTTPD_ACCEPT_RETRY_MS % 1000) * 1000};
        int e = EVUTIL_SOCKET_ERROR();

        (void)l;
        log_warning("http: accepting a connection failed, pausing for %d ms: %s",
                    HTTPD_ACCEPT_RETRY_MS, strerror(e));
        h->paused_by_error = true;
        update_listener(h);
        (void)evtimer_add(h->accept_retry, &tv);
}

/* ---- lifetime --------------------------------------------------------------------- */

static struct timeval ms_to_tv(unsigned ms, unsigned def)
{
        return pxf_timeval_from_ms(ms ? ms : def);
}

static int check_config(const struct httpd_config *cfg, struct pxf_error *err)
{
        if (cfg->listen_fd < 0)
                return pxf_error_set(err, -EBADF, "http: no listening socket");
        if (!cfg->root || cfg->root[0] != '/')
                return pxf_error_set(err, -EINVAL, "http: the root must be an absolute path");
        return 0;
}

void httpd_config_limits(struct httpd_config *c, const struct httpd_limits *l)
{
#define HTTPD_SET_LIMIT(field, ...)                                                                \
        if (l->field)                                                                              \
                c->field = l->field;
        HTTPD_LIMITS(HTTPD_SET_LIMIT)
#undef HTTPD_SET_LIMIT
}

void httpd_observe(struct httpd *h, const struct sockaddr_storage *addr, const char *path,
                   uint64_t bytes, uint64_t size, enum tl_result result)
{
        tl_observer_tell(&h->observer, (const struct sockaddr *)addr, sizeof(*addr), TL_PROTO_HTTP,
                         path, bytes, size, result);
}

int httpd_new(struct event_base *base, const struct httpd_config *cfg, struct httpd **ret,
              struct pxf_error *err)
{
        _cleanup_close_ int fd = cfg->listen_fd;
        struct httpd *h;
        int r;

        r = check_config(cfg, err);
        if (r < 0)
                return r;
        h = pxf_calloc(1, sizeof *h);
        h->log_rate.per_second = HTTPD_ERROR_LOGS_PER_SEC;
        h->base = base;
        h->root = pxf_strdup(cfg->root);
        h->opener = cfg->opener;
        h->observer = cfg->observer;
        h->api = cfg->api;
        h->max_connections =
            cfg->max_connections ? cfg->max_connections : HTTPD_DEFAULT_MAX_CONNECTIONS;
        h->max_per_source =
            cfg->max_per_source ? cfg->max_per_source : HTTPD_DEFAULT_MAX_PER_SOURCE;
        if (h->max_per_source > h->max_connections)
                h->max_per_source = h->max_connections;
        h->max_requests = cfg->max_requests ? cfg->max_requests : HTTPD_DEFAULT_MAX_REQUESTS;
        h->max_lifetime_usec = (uint64_t)(cfg->max_lifetime_ms ? cfg->max_lifetime_ms
                                                               : HTTPD_DEFAULT_MAX_LIFETIME_MS) *
                               1000u;
        h->idle_tv = ms_to_tv(cfg->idle_timeout_ms, HTTPD_DEFAULT_IDLE_TIMEOUT_MS);
        h->header_tv = ms_to_tv(cfg->header_timeout_ms, HTTPD_DEFAULT_HEADER_TIMEOUT_MS);
        h->linger_tv = ms_to_tv(HTTPD_LINGER_MS, HTTPD_LINGER_MS);
        h->accept_retry = evtimer_new(base, on_accept_retry, h);
        /* backlog 0: the socket already listens (httpd_bind). */
        h->listener = evconnlistener_new(base, on_accept, h,
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
        if (h->listener)
                fd = -1; /* the listener closes it now */
        if (!h->accept_retry || !h->listener) {
                httpd_free(h);
                return pxf_error_set(err, -ENOMEM, "http: setting up the listener failed");
        }
        evconnlistener_set_error_cb(h->listener, on_accept_error);
        *ret = h;
        return 0;
}

struct httpd *httpd_free(struct httpd *h)
{
        if (!h)
                return NULL;
        while (h->conns)
                httpd_conn_free(h->conns);
        if (h->listener)
                evconnlistener_free(h->listener);
        if (h->accept_retry)
                event_free(h->accept_retry);
        free(h->root);
        free(h);
        return NULL;
}

void httpd_get_stats(const struct httpd *h, struct httpd_stats *ret)
{
        *ret = h->stats;
}
