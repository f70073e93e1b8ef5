/* httpd-conn: one client connection. Reads request heads (bounded, with a header timer),
 * answers them one at a time in order (pipelining), streams file bodies as sendfile
 * slices with back-pressure, and keeps the connection alive or closes it gracefully. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/common.h"
#include "httpd/httpd-internal.h"

struct httpd_conn {
        struct httpd *server;
        struct httpd_conn *prev, *next;
        struct bufferevent *bev;
        struct event *timer; /* header, idle or linger timeout */
        char peer[HTTPD_PEER_MAX];
        bool head_started; /* the header clock of the next request runs */
        bool responding;   /* a response is queued; no further request is read */
        bool close_after;  /* close once the response is out */
        bool lingering;    /* response out, write side shut, draining input */
        bool peer_eof;
        bool reading_body; /* a POST's head is in; its body is still arriving */
        /* The response in flight: file bytes [body_next, body_end) are still to queue. */
        struct evbuffer_file_segment *seg;
        uint64_t body_start, body_next, body_end;
        bool observed;          /* the observer heard of this body's start */
        uint64_t observed_usec; /* and when it last heard of it */
        int status;
        uint64_t start_usec;
        struct http_request req;
        struct sockaddr_storage addr;
        uint64_t opened_usec, waiting_since_usec;
        unsigned requests;
};

#define HTTP_DATE_MAX 64

static void on_timer(evutil_socket_t fd, short what, void *userdata);
static void conn_process(struct httpd_conn *c);

/* ---- small helpers ---------------------------------------------------------------- */

static void format_peer(const struct sockaddr *sa, int salen, char *out, size_t size)
{
        char addr[PXF_ADDR_TEXT_MAX];
        unsigned port = pxf_addr_text(sa, salen > 0 ? (size_t)salen : 0, addr, sizeof addr);

        (void)snprintf(out, size, "%s:%u", addr, port);
}

/* IMF-fixdate (RFC 9110 5.6.7), without the locale strftime would consult. */
static void format_http_date(time_t t, char *out, size_t size)
{
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;

        if (!gmtime_r(&t, &tm)) {
                t = 0;
                (void)gmtime_r(&t, &tm);
        }
        (void)snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                       tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                       tm.tm_sec);
}

static void arm_timer(struct httpd_conn *c, const struct timeval *tv)
{
        (void)evtimer_add(c->timer, tv);
}

/* Whether a refused request may be logged now (HTTPD_ERROR_LOGS_PER_SEC). */
static bool error_log_allowed(struct httpd *h, uint64_t now)
{
        uint64_t held_back;
        bool ok = pxf_rate_limit_take(&h->log_rate, now, &held_back);

        if (held_back > 0)
                log_info("http: %" PRIu64 " refused requests not logged (rate limit)", held_back);
        return ok;
}

/* One line per response; "cut" when the connection ended before all of it was sent. */
static void log_access(const struct httpd_conn *c, uint64_t body_sent, bool cut)
{
        char method[HTTP_MAX_METHOD * 4 + 8], target[512];
        uint64_t now = pxf_now_usec(), ms = (now - c->start_usec) / 1000;

        if (c->status >= 400 && !error_log_allowed(c->server, now))
                return;

        http_log_escape(c->req.method_name, strlen(c->req.method_name), method, sizeof method);
        http_log_escape(c->req.target, strlen(c->req.target), target, sizeof target);
        log_info("http: %s \"%s\" \"%s\" %d %" PRIu64 " bytes %" PRIu64 " ms%s", c->peer,
                 method[0] ? method : "-", target[0] ? target : "-", c->status, body_sent, ms,
                 cut ? " cut" : "");
}

/* Body bytes that left the process: what was queued minus what still waits. */
static uint64_t body_bytes_sent(const struct httpd_conn *c)
{
        uint64_t queued = c->body_next - c->body_start;
        size_t waiting = evbuffer_get_length(bufferevent_get_output(c->bev));

        return queued > waiting ? queued - waiting : 0;
}

/* What the observer hears as a response ends: the body's end, or a file not found. */
static void observe_end(struct httpd_conn *c, uint64_t sent)
{
        uint64_t length = c->body_end - c->body_start;

        if (c->observed)
                httpd_observe(c->server, &c->addr, c->req.target, sent, length,
                              sent < length ? TL_RESULT_ABORTED : TL_RESULT_DONE);
        else if (c->status == 404 && c->req.method == HTTP_METHOD_GET)
                httpd_observe(c->server, &c->addr, c->req.target, 0, 0, TL_RESULT_NOT_FOUND);
        c->observed = false;
}

/* A body being sent: the observer hears of it at most once a second. */
static void observe_progress(struct httpd_conn *c)
{
        if (!c->observed || !tl_observer_due(&c->server->observer, &c->observed_usec))
                return;
        httpd_observe(c->server, &c->addr, c->req.target, body_bytes_sent(c),
                      c->body_end - c->body_start, TL_RESULT_RUNNING);
}

static void end_response(struct httpd_conn *c)
{
        uint64_t sent = body_bytes_sent(c);

        c->server->stats.body_bytes_sent += sent;
        log_access(c, sent, sent < c->body_end - c->body_start);
        observe_end(c, sent);
        c->responding = false;
        if (c->seg)
                evbuffer_file_segment_free(c->seg);
        c->seg = NULL;
        c->body_start = c->body_next = c->body_end = 0;
}

/* ---- lifetime --------------------------------------------------------------------- */

struct httpd_conn *httpd_conn_free(struct httpd_conn *c)
{
        struct httpd *h;

        if (!c)
                return NULL;
        h = c->server;
        if (c->responding)
                end_response(c); /* logs the cut response */
        if (c->prev)
                c->prev->next = c->next;
        else
                h->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (c->timer)
                event_free(c->timer);
        bufferevent_free(c->bev);
        free(c);
        httpd_connection_closed(h);
        return NULL;
}

/* The response is out; the client may still be sending. Shut our side and drain theirs
 * for a moment, so the client reads the response rather than a reset. */
static void conn_linger(struct httpd_conn *c)
{
        c->lingering = true;
        (void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
        (void)evbuffer_drain(bufferevent_get_input(c->bev),
                             evbuffer_get_length(bufferevent_get_input(c->bev)));
        if (c->peer_eof) {
                httpd_conn_free(c);
                return;
        }
        bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
        (void)bufferevent_enable(c->bev, EV_READ);
        arm_timer(c, &c->server->linger_tv);
}

/* ---- responses -------------------------------------------------------------------- */

struct response_head {
        int status;
        const char *content_type;
        uint64_t content_length;
        const char *last_modified; /* NULL: none */
        const char *content_range; /* NULL: none */
        bool dynamic;              /* made for this request: no ranges, not to be cached */
};

static void add_head(struct httpd_conn *c, const struct response_head *rh)
{
        struct evbuffer *out = bufferevent_get_output(c->bev);
        char date[HTTP_DATE_MAX];

        format_http_date(time(NULL), date, sizeof date);
        (void)evbuffer_add_printf(out,
                                  "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: pxeforge\r\n"
                                  "Content-Type: %s\r\nContent-Length: %" PRIu64 "\r\n",
                                  rh->status, http_reason_phrase(rh->status), date,
                                  rh->content_type, rh->content_length);
        if (rh->last_modified)
                (void)evbuffer_add_printf(out, "Last-Modified: %s\r\n", rh->last_modified);
        if (rh->content_range)
                (void)evbuffer_add_printf(out, "Content-Range: %s\r\n", rh->content_range);
        if (rh->status == 405)
                (void)evbuffer_add_printf(out, "Allow: GET, HEAD\r\n");
        /* The appliance's own pages load nothing from elsewhere, and no answer of it is
         * to be read as another type than it says (a client's name in a JSON answer). */
        if (rh->dynamic)
                (void)evbuffer_add_printf(
                    out, "Cache-Control: no-store\r\n"
                         "Content-Security-Policy: default-src 'self'; img-src data:\r\n"
                         "X-Content-Type-Options: nosniff\r\n");
        else if (rh->status < 300 || rh->status == 416)
                (void)evbuffer_add_printf(out, "Accept-Ranges: bytes\r\n");
        if (c->close_after)
                (void)evbuffer_add_printf(out, "Connection: close\r\n\r\n");
        else if (c->req.version_minor == 0)
                (void)evbuffer_add_printf(out, "Connection: keep-alive\r\n\r\n");
        else
                (void)evbuffer_add_printf(out, "\r\n");
}

static void begin_response(struct httpd_conn *c, int status)
{
        struct httpd_stats *st = &c->server->stats;

        c->responding = true;
        c->status = status;
        st->requests++;
        if (status >= 500)
                st->responses_5xx++;
        else if (status >= 400)
                st->responses_4xx++;
        else
                st->responses_2xx++;
        (void)evtimer_del(c->timer);
        /* The write timeout (set at accept) now guards against a client that stops
         * reading; the write callback fires once the output is empty. */
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

/* An error (or 416) response with a short text body; HEAD gets the headers only. */
static void respond_status(struct httpd_conn *c, int status, const char *content_range)
{
        char body[96];
        int n = snprintf(body, sizeof body, "%d %s\n", status, http_reason_phrase(status));

        begin_response(c, status);
        add_head(c, &(struct response_head){.status = status,
                                            .content_type = "text/plain; charset=utf-8",
                                            .content_length = (uint64_t)n,
                                            .content_range = content_range});
        if (c->req.method == HTTP_METHOD_HEAD)
                return;
        (void)evbuffer_add(bufferevent_get_output(c->bev), body, (size_t)n);
        /* Counted as body bytes like a file's; nothing is left to queue. */
        c->body_next = c->body_end = (uint64_t)n;
}

static void respond_error(struct httpd_conn *c, int status, bool close)
{
        c->close_after = c->close_after || close;
        respond_status(c, status, NULL);
}

/* Queues file slices while little is waiting; sendfile moves them, no copy in memory. */
static int queue_body(struct httpd_conn *c)
{
        struct evbuffer *out = bufferevent_get_output(c->bev);

        while (c->body_next < c->body_end && evbuffer_get_length(out) < HTTPD_SEND_QUEUE) {
                uint64_t n = c->body_end - c->body_next;

                if (n > HTTPD_SEND_CHUNK)
                        n = HTTPD_SEND_CHUNK;
                if (evbuffer_add_file_segment(out, c->seg, (ev_off_t)c->body_next, (ev_off_t)n) < 0)
                        return -ENOMEM;
                c->body_next += n;
        }
        bufferevent_setwatermark(c->bev, EV_WRITE,
                                 c->body_next < c->body_end ? HTTPD_SEND_LOW_WATER : 0, 0);
        return 0;
}

/* ---- serving a file --------------------------------------------------------------- */

static int open_status(int r)
{
        switch (r) {
        case -ENOENT:
        case -ENOTDIR:
        case -EXDEV: /* escapes the root: the same answer as a missing file */
        case -ELOOP:
        case -ENAMETOOLONG:
        case -ENXIO:
        case -EISDIR: /* a folder, FIFO or device: only files are served */
                return 404;
        case -EACCES:
        case -EPERM:
                return 403;
        default:
                return 500;
        }
}

/* Range applies to GET only (RFC 9110 14.2), and If-Range must name our Last-Modified. */
static void choose_range(const struct http_request *req, uint64_t size, const char *last_modified,
                         struct http_range_result *ret)
{
        struct http_range range;
        bool use = req->method == HTTP_METHOD_GET && req->has_range &&
                   (!req->has_if_range || strcmp(req->if_range, last_modified) == 0) &&
                   http_range_parse(req->range, &range) == 0;

        http_range_resolve(use ? &range : NULL, size, ret);
}

static int start_body(struct httpd_conn *c, int *fd, uint64_t size,
                      const struct http_range_result *res)
{
        if (c->req.method != HTTP_METHOD_GET || res->length == 0)
                return 0;
        /* Without EVBUF_FS_DISABLE_SENDFILE the segment is never mapped or read here. */
        c->seg = evbuffer_file_segment_new(*fd, 0, (ev_off_t)size, EVBUF_FS_CLOSE_ON_FREE);
        if (!c->seg)
                return -ENOMEM;
        *fd = -1; /* the segment owns it */
        c->body_start = c->body_next = res->offset;
        c->body_end = res->offset + res->length;
        c->observed = true;
        c->observed_usec = pxf_now_usec();
        httpd_observe(c->server, &c->addr, c->req.target, 0, res->length, TL_RESULT_RUNNING);
        return queue_body(c);
}

static int serve_file(struct httpd_conn *c, const char *path)
{
        _cleanup_close_ int fd = -1;
        char last_modified[HTTP_DATE_MAX], content_range[96];
        struct http_range_result res;
        struct stat st;

        fd = c->server->opener.open
                 ? c->server->opener.open(c->server->opener.ctx, (const struct sockaddr *)&c->addr,
                                          sizeof c->addr, path, &st)
                 : pxf_open_beneath(c->server->root, path, &st);
        if (fd < 0) {
                if (open_status(fd) == 500) {
                        char shown[512];
                        http_log_escape(path, strlen(path), shown, sizeof shown);
                        pxf_log_errno(PXF_LOG_WARNING, fd, "http: opening \"%s\" failed", shown);
                }
                respond_error(c, open_status(fd), false);
                return 0;
        }
        format_http_date(st.st_mtime, last_modified, sizeof last_modified);
        choose_range(&c->req, (uint64_t)st.st_size, last_modified, &res);
        if (res.status == 416) {
                (void)snprintf(content_range, sizeof content_range, "bytes */%" PRIu64,
                               (uint64_t)st.st_size);
                respond_status(c, 416, content_range);
                return 0;
        }
        (void)snprintf(content_range, sizeof content_range,
                       "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, res.offset,
                       res.offset + res.length - 1, (uint64_t)st.st_size);
        begin_response(c, res.status);
        add_head(
            c, &(struct response_head){.status = res.status,
                                       .content_type = http_content_type(path),
                                       .content_length = res.length,
                                       .last_modified = last_modified,
                                       .content_range = res.status == 206 ? content_range : NULL});
        return start_body(c, &fd, (uint64_t)st.st_size, &res);
}

/* An answer made whole in memory (the API's: small pages), never cached. */
static void respond_made(struct httpd_conn *c, int status, struct evbuffer *body, const char *type)
{
        size_t n = evbuffer_get_length(body);

        begin_response(c, status);
        add_head(c,
                 &(struct response_head){
                     .status = status, .content_type = type, .content_length = n, .dynamic = true});
        if (c->req.method != HTTP_METHOD_HEAD) {
                (void)evbuffer_add_buffer(bufferevent_get_output(c->bev), body);
                c->body_next = c->body_end = n; /* counted as body bytes; nothing to queue */
        }
}

/* The appliance's own answer to a GET or HEAD (struct httpd_api). */
static int serve_api(struct httpd_conn *c, const char *path)
{
        struct evbuffer *body = evbuffer_new();
        const char *type = "text/plain; charset=utf-8";
        int status;

        if (!body)
                return -ENOMEM;
        status =
            strchr(path, '%') ? 404 : c->server->api.answer(c->server->api.ctx, path, body, &type);
        if (status != 200)
                respond_error(c, status, false);
        else
                respond_made(c, status, body, type);
        evbuffer_free(body);
        return 0;
}

/* The API's path in an origin-form target, without the query; NULL if it is not one. */
static const char *api_path(const struct httpd_conn *c, char *buf, size_t size)
{
        const char *t = c->req.target;
        size_t len;

        if (!c->server->api.answer || strncmp(t, HTTPD_API_PREFIX, strlen(HTTPD_API_PREFIX)) != 0)
                return NULL;
        t += strlen(HTTPD_API_PREFIX);
        len = strcspn(t, "?#");
        if (len >= size)
                return NULL;
        memcpy(buf, t, len);
        buf[len] = '\0';
        return buf;
}

/* A POST whose whole body is at the front of the input: handed to the API. */
static int serve_post(struct httpd_conn *c, const char *path)
{
        struct evbuffer *in = bufferevent_get_input(c->bev), *out = evbuffer_new();
        const char *type = "text/plain; charset=utf-8";
        char body[HTTPD_API_MAX_BODY];
        size_t len = (size_t)c->req.content_length;
        int status = 404;

        c->reading_body = false;
        if (!out)
                return -ENOMEM;
        if (evbuffer_remove(in, body, len) != (int)len) {
                evbuffer_free(out);
                return -EIO;
        }
        if (!strchr(path, '%'))
                status = c->server->api.receive(c->server->api.ctx, path,
                                                (const struct sockaddr *)&c->addr, sizeof c->addr,
                                                body, len, out, &type);
        respond_made(c, status, out, type);
        evbuffer_free(out);
        return 0;
}

/* A POST's head: only the API takes one, with a small body, which is read next. Anything
 * else is refused unread, and the connection closed (the body would follow). */
static int start_post(struct httpd_conn *c)
{
        char path[HTTP_MAX_PATH + 1];

        if (!c->server->api.receive || !api_path(c, path, sizeof path)) {
                respond_error(c, 405, true);
                return 0;
        }
        if (c->req.content_length > HTTPD_API_MAX_BODY) {
                c->server->stats.bodies_too_large++;
                respond_error(c, 413, true);
                return 0;
        }
        c->reading_body = true; /* conn_process waits for it; the header clock runs on */
        return 0;
}

/* The body of the POST in hand, once it is all here: answered; else wait for more (or
 * give up on a client that closed). May free c. */
static bool body_arrived(struct httpd_conn *c)
{
        char path[HTTP_MAX_PATH + 1];

        if (evbuffer_get_length(bufferevent_get_input(c->bev)) < c->req.content_length) {
                if (c->peer_eof)
                        httpd_conn_free(c);
                return false;
        }
        if (!api_path(c, path, sizeof path) || serve_post(c, path) < 0) {
                log_warning("http: %s: answering a POST failed", c->peer);
                httpd_conn_free(c);
                return false;
        }
        return true;
}

static int target_status(int r)
{
        return r == -ENOENT ? 404 : r == -ENAMETOOLONG ? 414 : 400;
}

/* A connection may not live for ever on a trickle of requests (one HEAD every few
 * seconds once kept a slot for good): past its request count or age, the response in
 * hand is its last. */
static void retire_when_due(struct httpd_conn *c)
{
        const struct httpd *h = c->server;

        c->requests++;
        if (c->close_after)
                return;
        if (c->requests >= h->max_requests ||
            pxf_now_usec() - c->opened_usec >= h->max_lifetime_usec) {
                c->close_after = true;
                c->server->stats.retired++;
        }
}

/* A path below PXF_BOOT_PREFIX, decoded as any file's is, for the opener (which alone
 * serves them); the prefix's hidden folder is kept, the rest decoded. r < 0: the target is
 * one, but malformed; 0: it is none; 1: it is one. */
static int boot_path(const struct httpd_conn *c, char *buf, size_t size)
{
        static const char hidden[] = ".pxeforge";
        const char *t = c->req.target;
        int r;

        if (!c->server->opener.open || strncmp(t, PXF_BOOT_PREFIX, strlen(PXF_BOOT_PREFIX)) != 0)
                return 0;
        if (size <= sizeof hidden)
                return -ENAMETOOLONG;
        memcpy(buf, hidden, sizeof hidden - 1);
        buf[sizeof hidden - 1] = '/';
        r = http_target_decode(t + sizeof hidden, buf + sizeof hidden, size - sizeof hidden);
        return r < 0 ? r : 1;
}

/* A request whose head parsed: framing is sound, so keep-alive follows the request. */
static int serve_request(struct httpd_conn *c)
{
        char path[HTTP_MAX_PATH + 1];
        int r;

        c->close_after = !c->req.keep_alive;
        retire_when_due(c);
        if (c->req.method == HTTP_METHOD_KNOWN_OTHER) {
                respond_error(c, 405, true); /* a body may follow that we will not read */
                return 0;
        }
        if (c->req.method == HTTP_METHOD_UNKNOWN) {
                respond_error(c, 501, true);
                return 0;
        }
        if (c->req.method == HTTP_METHOD_POST)
                return start_post(c);
        r = boot_path(c, path, sizeof path);
        if (r > 0)
                return serve_file(c, path);
        if (r == 0 && api_path(c, path, sizeof path))
                return serve_api(c, path);
        if (r == 0)
                r = http_target_decode(c->req.target, path, sizeof path);
        if (r < 0) {
                respond_error(c, target_status(r), false);
                return 0;
        }
        return serve_file(c, path);
}

/* ---- reading requests ------------------------------------------------------------- */

/* Handles the head at the front of the input: its length, or the framing error. */
static int start_request(struct httpd_conn *c, const char *data, int head_len)
{
        struct evbuffer *in = bufferevent_get_input(c->bev);
        int r;

        c->start_usec = pxf_now_usec();
        c->head_started = false;
        if (head_len < 0) {
                c->req = (struct http_request){0};
                respond_error(c, head_len == -EMSGSIZE ? 431 : 400, true);
                return 0;
        }
        r = http_request_parse(data, (size_t)head_len, &c->req);
        (void)evbuffer_drain(in, (size_t)head_len);
        if (r < 0) {
                respond_error(c, c->req.status, true);
                return 0;
        }
        return serve_request(c);
}

/* Reads and answers requests from the input until a response is in flight or no complete
 * head is buffered. May free c. */
static void conn_process(struct httpd_conn *c)
{
        struct evbuffer *in = bufferevent_get_input(c->bev);

        while (!c->responding) {
                size_t len, n;
                const char *data;
                int r;

                if (c->reading_body) {
                        if (!body_arrived(c))
                                return;
                        continue;
                }
                len = evbuffer_get_length(in);
                n = len < HTTP_MAX_HEAD_BYTES ? len : HTTP_MAX_HEAD_BYTES;
                if (len > 0 && !c->head_started) {
                        c->head_started = true;
                        arm_timer(c, &c->server->header_tv);
                }
                data = len > 0 ? (const char *)evbuffer_pullup(in, (ev_ssize_t)n) : NULL;
                r = data ? http_request_head_length(data, n) : 0;
                if (r == 0) {
                        if (c->peer_eof)
                                httpd_conn_free(c);
                        return;
                }
                if (start_request(c, data, r) < 0) {
                        log_warning("http: %s: queueing a response failed", c->peer);
                        httpd_conn_free(c);
                        return;
                }
        }
}

static void finish_response(struct httpd_conn *c)
{
        end_response(c);
        /* At the cap with every connection busy, new clients wait in the backlog: the
         * first connection to be free again makes room for them. */
        if (c->server->paused_by_cap && !c->close_after) {
                c->close_after = true;
                c->server->stats.made_room++;
        }
        if (c->close_after) {
                conn_linger(c);
                return;
        }
        c->waiting_since_usec = pxf_now_usec();
        arm_timer(c, &c->server->idle_tv);
        conn_process(c);
}

/* ---- callbacks -------------------------------------------------------------------- */

static void on_read(struct bufferevent *bev, void *userdata)
{
        struct httpd_conn *c = userdata;

        if (c->lingering) {
                (void)evbuffer_drain(bufferevent_get_input(bev),
                                     evbuffer_get_length(bufferevent_get_input(bev)));
                return;
        }
        conn_process(c);
}

static void on_write(struct bufferevent *bev, void *userdata)
{
        struct httpd_conn *c = userdata;

        if (!c->responding)
                return;
        if (c->body_next < c->body_end) {
                observe_progress(c);
                if (queue_body(c) < 0) {
                        log_warning("http: %s: queueing file data failed", c->peer);
                        httpd_conn_free(c);
                }
                return;
        }
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
                finish_response(c);
}

static void on_event(struct bufferevent *bev, short what, void *userdata)
{
        struct httpd_conn *c = userdata;

        (void)bev;
        if (what & BEV_EVENT_TIMEOUT)
                c->server->stats.timeouts++;
        /* Any end while writing is final: libevent has stopped writing, and an "EOF" there
         * is sendfile finding the file shorter than the response (replaced in place). */
        if ((what & (BEV_EVENT_TIMEOUT | BEV_EVENT_ERROR | BEV_EVENT_WRITING)) || c->lingering) {
                httpd_conn_free(c);
                return;
        }
        if (what & BEV_EVENT_EOF) {
                /* A half-close after the last request is fine: answer what is buffered. */
                c->peer_eof = true;
                if (!c->responding)
                        conn_process(c);
        }
}

static void on_timer(evutil_socket_t fd, short what, void *userdata)
{
        struct httpd_conn *c = userdata;
        bool partial = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;

        (void)fd, (void)what;
        if (c->lingering) {
                httpd_conn_free(c);
                return;
        }
        c->server->stats.timeouts++;
        if (!partial) {
                httpd_conn_free(c); /* idle: close quietly */
                return;
        }
        c->start_usec = pxf_now_usec();
        c->req = (struct http_request){0};
        respond_error(c, 408, true);
}

/* ---- accepting -------------------------------------------------------------------- */

static int conn_setup(struct httpd_conn *c)
{
        struct httpd *h = c->server;
        int one = 1;

        c->timer = evtimer_new(h->base, on_timer, c);
        if (!c->timer)
                return -ENOMEM;
        /* Small responses (HEAD, errors) of a pipelined sequence must not wait for Nagle. */
        (void)setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
        /* Reading stops at this much unprocessed input: one maximal head. */
        bufferevent_setwatermark(c->bev, EV_READ, 0, HTTP_MAX_HEAD_BYTES);
        if (bufferevent_set_timeouts(c->bev, NULL, &h->idle_tv) < 0 ||
            bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
                return -ENOMEM;
        /* The header clock runs from accept: a client that connects and sends nothing is
         * dropped as soon as one that sends half a head. */
        c->head_started = true;
        arm_timer(c, &h->header_tv);
        return 0;
}

unsigned httpd_conns_from(const struct httpd *h, const struct sockaddr *sa)
{
        unsigned n = 0;

        for (const struct httpd_conn *c = h->conns; c; c = c->next)
                n += pxf_same_host((const struct sockaddr *)&c->addr, sa);
        return n;
}

/* Waiting for a request: none in flight, not closing, no byte of the next one here. */
static bool waiting(const struct httpd_conn *c)
{
        return !c->responding && !c->lingering && !c->reading_body &&
               evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
}

bool httpd_close_waiting(struct httpd *h)
{
        struct httpd_conn *oldest = NULL;

        for (struct httpd_conn *c = h->conns; c; c = c->next)
                if (waiting(c) && (!oldest || c->waiting_since_usec < oldest->waiting_since_usec))
                        oldest = c;
        if (!oldest)
                return false;
        h->stats.made_room++;
        httpd_conn_free(oldest);
        return true;
}

int httpd_conn_new(struct httpd *h, int fd, const struct sockaddr *sa, int salen)
{
        struct httpd_conn *c = pxf_calloc(1, sizeof *c);
        int r;

        c->server = h;
        format_peer(sa, salen, c->peer, sizeof c->peer);
        if ((size_t)salen <= sizeof c->addr)
                memcpy(&c->addr, sa, (size_t)salen);
        c->opened_usec = c->waiting_since_usec = pxf_now_usec();
        c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
        if (!c->bev) {
                (void)close(fd);
                free(c);
                return -ENOMEM;
        }
        c->next = h->conns;
        if (h->conns)
                h->conns->prev = c;
        h->conns = c;
        h->stats.connections_open++;
        r = conn_setup(c);
        if (r < 0) {
                log_warning("http: %s: setting up the connection failed", c->peer);
                httpd_conn_free(c);
        }
        return r;
}
