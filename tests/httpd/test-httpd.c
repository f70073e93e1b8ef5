/* Loopback tests of the HTTP server (httpd/httpd.h). Each case runs the server on its own
 * event_base in a thread, on 127.0.0.1 port 0, over a temporary artifacts folder whose
 * root is a symlink "current" -> "build-1"; the test is the client over raw sockets (and
 * curl for interop). Counters are read after the server thread has stopped. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"
#include <event2/event.h>

#include "common/common.h"
#include "httpd/httpd.h"

#define DATA_SIZE      (1024 * 1024)
#define BIG_SIZE       (32 * 1024 * 1024)
#define N_PARALLEL     50
#define MTIME          1445412480 /* Wed, 21 Oct 2015 07:28:00 GMT */
#define MTIME_TEXT     "Wed, 21 Oct 2015 07:28:00 GMT"
#define RECV_TIMEOUT_S 20

struct server {
        char dir[64];
        char root[96];
        struct event_base *base;
        struct httpd *httpd;
        struct event *stop_ev;
        int stop_pipe[2];
        pthread_t thread;
        uint16_t port;
        struct httpd_stats stats; /* valid after stop_server() */
};

/* ---- fixture files ---------------------------------------------------------------- */

static uint8_t pattern_byte(uint64_t i, unsigned seed)
{
        uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;
        return (uint8_t)(x >> 56 ^ x >> 29);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
        const uint8_t *p = data;

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ULL;
        return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static void write_file(const char *dir, const char *name, const void *data, size_t n)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        struct timespec ts[2] = {{MTIME, 0}, {MTIME, 0}};

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t)n);
        assert_int_equal(futimens(fd, ts), 0);
}

/* A pattern file of size bytes; returns its FNV-1a hash. */
static uint64_t write_pattern(const char *dir, const char *name, size_t size, unsigned seed)
{
        _cleanup_free_ uint8_t *buf = malloc(size ? size : 1);
        uint64_t h;

        assert_non_null(buf);
        for (size_t i = 0; i < size; i++)
                buf[i] = pattern_byte(i, seed);
        write_file(dir, name, buf, size);
        h = fnv1a(FNV_INIT, buf, size);
        return h;
}

static void link_in(const char *dir, const char *target, const char *name)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, name);

        assert_int_equal(symlink(target, path), 0);
}

static void make_build(const char *top, const char *build, const char *small_text)
{
        _cleanup_free_ char *b = pxf_asprintf("%s/%s", top, build);
        _cleanup_free_ char *sub = pxf_asprintf("%s/sub", b);
        _cleanup_free_ char *subdir = pxf_asprintf("%s/sub/dir", b);
        _cleanup_free_ char *fifo = pxf_asprintf("%s/pipe", b);

        assert_int_equal(mkdir(b, 0755), 0);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(mkdir(subdir, 0755), 0);
        write_file(b, "small.txt", small_text, strlen(small_text));
        write_file(b, "empty", "", 0);
        write_file(b, ".hidden", "hidden\n", 7);
        write_file(b, "grub.cfg", "set timeout=5\n", 14);
        write_file(subdir, "file.cfg", "menuentry\n", 10);
        (void)write_pattern(b, "data.bin", DATA_SIZE, 1);
        assert_int_equal(mkfifo(fifo, 0644), 0);
        link_in(b, "small.txt", "inside-link");
        link_in(sub, "../small.txt", "up-link");
        link_in(b, "/etc/passwd", "escape-abs");
        link_in(b, "../outside.txt", "escape-rel");
        link_in(b, "/proc/self/root/etc/passwd", "escape-proc");
        link_in(b, "..", "parent-dir");
}

/* ---- server thread ---------------------------------------------------------------- */

static void on_stop(evutil_socket_t fd, short what, void *userdata)
{
        (void)fd, (void)what;
        event_base_loopbreak(userdata);
}

static void *server_main(void *userdata)
{
        struct server *s = userdata;

        (void)event_base_dispatch(s->base);
        return NULL;
}

static void start_server(struct server *s, const struct httpd_config *overrides)
{
        struct httpd_config cfg = overrides ? *overrides : (struct httpd_config){0};
        struct pxf_error err = {0};
        int fd = -1;

        assert_int_equal(httpd_bind("127.0.0.1", 0, &fd, &err), 0);
        assert_int_equal(httpd_bound_port(fd, &s->port), 0);
        assert_true(s->port > 0);
        s->base = event_base_new();
        assert_non_null(s->base);
        cfg.root = s->root;
        cfg.listen_fd = fd;
        assert_int_equal(httpd_new(s->base, &cfg, &s->httpd, &err), 0);
        assert_int_equal(pipe2(s->stop_pipe, O_CLOEXEC), 0);
        s->stop_ev = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s->base);
        assert_int_equal(event_add(s->stop_ev, NULL), 0);
        assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void stop_server(struct server *s)
{
        if (!s->base)
                return;
        assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
        assert_int_equal(pthread_join(s->thread, NULL), 0);
        httpd_get_stats(s->httpd, &s->stats);
        s->httpd = httpd_free(s->httpd);
        event_free(s->stop_ev);
        event_base_free(s->base);
        s->base = NULL;
        (void)close(s->stop_pipe[0]);
        (void)close(s->stop_pipe[1]);
}

static int setup(void **state)
{
        struct server *s = pxf_calloc(1, sizeof *s);

        (void)snprintf(s->dir, sizeof s->dir, "/tmp/pxf-httpd-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        (void)snprintf(s->root, sizeof s->root, "%s/current", s->dir);
        write_file(s->dir, "outside.txt", "SECRET outside the root\n", 24);
        make_build(s->dir, "build-1", "hello pxe\n");
        assert_int_equal(symlinkat("build-1", AT_FDCWD, s->root), 0);
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        struct server *s = *state;

        stop_server(s);
        (void)pxf_rm_rf(s->dir);
        free(s);
        return 0;
}

/* ---- client ----------------------------------------------------------------------- */

struct client {
        int fd;
        char buf[256 * 1024];
        size_t len;
};

struct response {
        int status;
        char head[16384];
        uint64_t content_length;
        bool has_length;
        char *body;
        size_t body_len;
};

static void response_clear(struct response *r)
{
        free(r->body);
        *r = (struct response){0};
}

/* A connection to 127.0.0.1:port from host (host order; 0: 127.0.0.1, the kernel's
 * choice), so that tests can play several machines. */
static int connect_port_from(uint16_t port, uint32_t host)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(host)};
        struct timeval tv = {RECV_TIMEOUT_S, 0};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (host)
                assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        return fd;
}

static struct client *client_new_from(const struct server *s, uint32_t host)
{
        struct client *c = pxf_calloc(1, sizeof *c);

        c->fd = connect_port_from(s->port, host);
        return c;
}

static struct client *client_new(const struct server *s)
{
        return client_new_from(s, 0);
}

static void client_free(struct client *c)
{
        if (c->fd >= 0)
                (void)close(c->fd);
        free(c);
}

static void send_raw(struct client *c, const void *data, size_t n)
{
        const char *p = data;

        while (n > 0) {
                ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                assert_true(w > 0);
                p += w;
                n -= (size_t)w;
        }
}

static void send_str(struct client *c, const char *s)
{
        send_raw(c, s, strlen(s));
}

/* Reads more into the buffer; returns bytes read, 0 at EOF, -errno on error/timeout. */
static ssize_t fill(struct client *c)
{
        ssize_t n;

        if (c->len == sizeof c->buf)
                return -ENOBUFS;
        do
                n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        c->len += (size_t)n;
        return n;
}

static void consume(struct client *c, size_t n)
{
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
}

/* The value of a header field in a response head, or NULL. */
static const char *header(const struct response *r, const char *name, char *out, size_t size)
{
        size_t nlen = strlen(name);

        for (const char *l = strstr(r->head, "\r\n"); l && l[2] != '\r';
             l = strstr(l + 2, "\r\n")) {
                const char *line = l + 2, *end = strstr(line, "\r\n");
                if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
                        const char *v = line + nlen + 1;
                        while (*v == ' ')
                                v++;
                        (void)snprintf(out, size, "%.*s", (int)(end - v), v);
                        return out;
                }
        }
        return NULL;
}

/* Reads one response; for HEAD (or 1xx/204/304) no body. Returns 0, or -errno / -EPROTO. */
static int read_response(struct client *c, bool head_request, struct response *r)
{
        char v[64];
        char *end;
        size_t hlen;

        *r = (struct response){0};
        while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
                ssize_t n = fill(c);
                if (n <= 0)
                        return n == 0 ? -ECONNRESET : (int)n;
        }
        hlen = (size_t)(end - c->buf) + 4;
        if (hlen >= sizeof r->head)
                return -EPROTO;
        memcpy(r->head, c->buf, hlen);
        consume(c, hlen);
        if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
                return -EPROTO;
        if (header(r, "Content-Length", v, sizeof v)) {
                r->has_length = true;
                r->content_length = strtoull(v, NULL, 10);
        }
        if (head_request)
                return 0;
        if (!r->has_length)
                return -EPROTO; /* this server always sends one */
        r->body = malloc(r->content_length + 1);
        assert_non_null(r->body);
        while (r->body_len < r->content_length) {
                size_t take;
                if (c->len == 0) {
                        ssize_t n = fill(c);
                        if (n <= 0)
                                return n == 0 ? -ECONNRESET : (int)n;
                }
                take = c->len < r->content_length - r->body_len ? c->len
                                                                : r->content_length - r->body_len;
                memcpy(r->body + r->body_len, c->buf, take);
                r->body_len += take;
                consume(c, take);
        }
        r->body[r->body_len] = '\0';
        return 0;
}

/* After the last response: the server closes, sending nothing more. */
static void expect_closed(struct client *c)
{
        assert_int_equal(c->len, 0);
        assert_int_equal(fill(c), 0);
}

/* One request on a fresh connection; returns the response. */
static void exchange(const struct server *s, const char *request, struct response *r)
{
        struct client *c = client_new(s);
        int rc;

        send_str(c, request);
        rc = read_response(c, strncmp(request, "HEAD ", 5) == 0, r);
        if (rc < 0)
                fail_msg("request %s: reading the response failed: %s", request, strerror(-rc));
        client_free(c);
}

static void expect_header(const struct response *r, const char *name, const char *value)
{
        char v[256];

        if (!header(r, name, v, sizeof v))
                fail_msg("no %s in %s", name, r->head);
        if (strcmp(v, value) != 0)
                fail_msg("%s: expected '%s', got '%s'", name, value, v);
}

/* Bytes [off, off+n) of a fixture file. */
static char *file_bytes(const struct server *s, const char *build, const char *name, off_t off,
                        size_t n)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s/%s", s->dir, build, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = malloc(n + 1);

        assert_true(fd >= 0);
        assert_non_null(buf);
        assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
        return buf;
}

/* A decimal fd number from /proc/self/fd, -1 for anything else. */
static int atoi_safe(const char *s)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        return errno || end == s || *end || v < 0 || v > INT32_MAX ? -1 : (int)v;
}

static double now_s(void)
{
        return (double)pxf_now_usec() / 1e6;
}

/* ---- cases ------------------------------------------------------------------------ */

static void bind_and_port(void **state)
{
        struct server *s = *state;
        struct pxf_error err = {0};
        struct event_base *base = event_base_new();
        struct httpd *h = NULL;
        uint16_t port = 0;
        int fd = -1, fd2 = -1;

        assert_int_equal(httpd_bind("127.0.0.1", 0, &fd, &err), 0);
        assert_int_equal(httpd_bound_port(fd, &port), 0);
        assert_true(port > 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_int_equal(httpd_bind("127.0.0.1", port, &fd2, &err), -EADDRINUSE);
        assert_non_null(strstr(err.msg, "listening on 127.0.0.1"));
        assert_int_equal(httpd_bind("not-an-address", 0, &fd2, &err), -EINVAL);
        assert_int_equal(httpd_bind("::1", 0, &fd2, &err), 0);
        assert_int_equal(close(fd2), 0);
        /* httpd_new takes the fd over even when it refuses the config. */
        assert_int_equal(
            httpd_new(base, &(struct httpd_config){.root = "relative", .listen_fd = fd}, &h, &err),
            -EINVAL);
        assert_null(h);
        assert_int_equal(fcntl(fd, F_GETFD), -1);
        assert_int_equal(
            httpd_new(base, &(struct httpd_config){.root = s->root, .listen_fd = -1}, &h, &err),
            -EBADF);
        assert_null(httpd_free(NULL));
        event_base_free(base);
}

static void get_full(void **state)
{
        struct server *s = *state;
        struct response r;
        _cleanup_free_ char *want = file_bytes(s, "build-1", "data.bin", 0, DATA_SIZE);
        char v[64];

        start_server(s, NULL);
        exchange(s, "GET /data.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Length", "1048576");
        expect_header(&r, "Content-Type", "application/octet-stream");
        expect_header(&r, "Accept-Ranges", "bytes");
        expect_header(&r, "Last-Modified", MTIME_TEXT);
        assert_non_null(header(&r, "Date", v, sizeof v));
        assert_null(header(&r, "Content-Range", v, sizeof v));
        assert_null(header(&r, "Transfer-Encoding", v, sizeof v));
        assert_int_equal(r.body_len, DATA_SIZE);
        assert_true(fnv1a(FNV_INIT, r.body, r.body_len) == fnv1a(FNV_INIT, want, DATA_SIZE));
        response_clear(&r);
        exchange(s, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Type", "text/plain; charset=utf-8");
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        exchange(s, "GET /sub//dir/file.cfg?v=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "menuentry\n");
        response_clear(&r);
        stop_server(s);
        assert_int_equal(s->stats.responses_2xx, 3);
        assert_true(s->stats.body_bytes_sent == DATA_SIZE + 10 + 10);
}

static void head_only(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;

        start_server(s, NULL);
        c = client_new(s);
        send_str(c, "HEAD /data.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_response(c, true, &r), 0);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Length", "1048576");
        expect_header(&r, "Last-Modified", MTIME_TEXT);
        /* No body followed: the next response on the connection starts right away. */
        send_str(c, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        /* HEAD of a missing file: headers only as well. */
        send_str(c, "HEAD /missing HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_response(c, true, &r), 0);
        assert_int_equal(r.status, 404);
        send_str(c, "GET /empty HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 0);
        response_clear(&r);
        expect_closed(c);
        client_free(c);
}

static void expect_range(const struct server *s, const char *range, int status, uint64_t off,
                         uint64_t len, const char *content_range)
{
        _cleanup_free_ char *req =
            pxf_asprintf("GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: %s\r\n\r\n", range);
        struct response r;
        char v[64];

        exchange(s, req, &r);
        if (r.status != status)
                fail_msg("Range %s: status %d, expected %d", range, r.status, status);
        if (content_range)
                expect_header(&r, "Content-Range", content_range);
        else
                assert_null(header(&r, "Content-Range", v, sizeof v));
        if (status != 416) {
                _cleanup_free_ char *want = file_bytes(s, "build-1", "data.bin", (off_t)off, len);
                assert_int_equal(r.body_len, len);
                assert_memory_equal(r.body, want, len);
        }
        response_clear(&r);
}

static void ranges(void **state)
{
        struct server *s = *state;
        struct response r;

        start_server(s, NULL);
        expect_range(s, "bytes=0-99", 206, 0, 100, "bytes 0-99/1048576");
        expect_range(s, "bytes=500000-599999", 206, 500000, 100000, "bytes 500000-599999/1048576");
        expect_range(s, "bytes=-500", 206, DATA_SIZE - 500, 500, "bytes 1048076-1048575/1048576");
        expect_range(s, "bytes=1048000-", 206, 1048000, 576, "bytes 1048000-1048575/1048576");
        expect_range(s, "bytes=1048000-99999999", 206, 1048000, 576,
                     "bytes 1048000-1048575/1048576");
        expect_range(s, "bytes=1048576-", 416, 0, 0, "bytes */1048576");
        expect_range(s, "bytes=99999999999999999999999-", 416, 0, 0, "bytes */1048576");
        expect_range(s, "bytes=-0", 416, 0, 0, "bytes */1048576");
        /* Several ranges, bad syntax, other units: Range is ignored, the whole file sent. */
        expect_range(s, "bytes=0-1,5-6", 200, 0, DATA_SIZE, NULL);
        expect_range(s, "bytes=5-4", 200, 0, DATA_SIZE, NULL);
        expect_range(s, "lines=1-2", 200, 0, DATA_SIZE, NULL);
        /* HEAD ignores Range (it is defined for GET only). */
        exchange(s, "HEAD /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Length", "1048576");
        /* A 416 body is a short text, with its own length. */
        exchange(s, "GET /empty HTTP/1.1\r\nHost: t\r\nRange: bytes=0-\r\n\r\n", &r);
        assert_int_equal(r.status, 416);
        expect_header(&r, "Content-Range", "bytes */0");
        assert_string_equal(r.body, "416 Range Not Satisfiable\n");
        response_clear(&r);
}

static void if_range(void **state)
{
        struct server *s = *state;
        struct response r;

        start_server(s, NULL);
        exchange(s,
                 "GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n"
                 "If-Range: " MTIME_TEXT "\r\n\r\n",
                 &r);
        assert_int_equal(r.status, 206);
        assert_string_equal(r.body, "hello");
        response_clear(&r);
        exchange(s,
                 "GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n"
                 "If-Range: Thu, 22 Oct 2015 07:28:00 GMT\r\n\r\n",
                 &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        exchange(s,
                 "GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\n"
                 "If-Range: \"an-etag\"\r\n\r\n",
                 &r);
        assert_int_equal(r.status, 200);
        response_clear(&r);
}

static void keep_alive_sequence(void **state)
{
        static const struct {
                const char *path;
                int status;
                const char *body;
        } seq[] = {
            {"/small.txt", 200, "hello pxe\n"},
            {"/grub.cfg", 200, "set timeout=5\n"},
            {"/missing", 404, "404 Not Found\n"},
            {"/sub/dir/file.cfg", 200, "menuentry\n"},
            {"/%2e%2e/outside.txt", 400, "400 Bad Request\n"},
            {"/small.txt", 200, "hello pxe\n"},
        };
        struct server *s = *state;
        struct client *c;
        struct response r;

        start_server(s, NULL);
        c = client_new(s);
        for (size_t i = 0; i < PXF_ELEMENTSOF(seq); i++) {
                _cleanup_free_ char *req =
                    pxf_asprintf("GET %s HTTP/1.1\r\nHost: t\r\n\r\n", seq[i].path);
                send_str(c, req);
                assert_int_equal(read_response(c, false, &r), 0);
                assert_int_equal(r.status, seq[i].status);
                assert_string_equal(r.body, seq[i].body);
                response_clear(&r);
        }
        client_free(c);
        stop_server(s);
        assert_int_equal(s->stats.connections_accepted, 1);
        assert_int_equal(s->stats.requests, PXF_ELEMENTSOF(seq));
        assert_int_equal(s->stats.responses_4xx, 2);
}

static void pipelined(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;
        _cleanup_free_ char *want = file_bytes(s, "build-1", "data.bin", 10, 10);

        start_server(s, NULL);
        c = client_new(s);
        /* Five requests in one write, the last closing. */
        send_str(c, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                    "HEAD /data.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=10-19\r\n\r\n"
                    "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /grub.cfg HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        assert_int_equal(read_response(c, true, &r), 0);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Length", "1048576");
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 206);
        assert_memory_equal(r.body, want, 10);
        response_clear(&r);
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 404);
        response_clear(&r);
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Connection", "close");
        assert_string_equal(r.body, "set timeout=5\n");
        response_clear(&r);
        expect_closed(c);
        client_free(c);
}

static void http10_closes(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;

        start_server(s, NULL);
        c = client_new(s);
        send_str(c, "GET /small.txt HTTP/1.0\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17), 0);
        expect_header(&r, "Connection", "close");
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        expect_closed(c);
        client_free(c);
        /* 1.1 with Connection: close closes too. */
        c = client_new(s);
        send_str(c, "GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        response_clear(&r);
        expect_closed(c);
        client_free(c);
}

static void http10_keep_alive(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;

        start_server(s, NULL);
        c = client_new(s);
        for (int i = 0; i < 3; i++) {
                send_str(c, "GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
                assert_int_equal(read_response(c, false, &r), 0);
                assert_int_equal(r.status, 200);
                expect_header(&r, "Connection", "keep-alive");
                response_clear(&r);
        }
        client_free(c);
        stop_server(s);
        assert_int_equal(s->stats.connections_accepted, 1);
}

static void traversal_refused(void **state)
{
        static const struct {
                const char *target;
                int status;
        } cases[] = {
            {"/../outside.txt", 400},
            {"/sub/../../outside.txt", 400},
            {"/%2e%2e/outside.txt", 400},
            {"/%2e%2e%2foutside.txt", 400},
            {"/%2E%2E%2Foutside.txt", 400},
            {"/sub%2f..%2f..%2foutside.txt", 400},
            {"/..%5coutside.txt", 400},
            {"/./small.txt", 400},
            {"/sub/./dir/file.cfg", 400},
            {"http://127.0.0.1/../outside.txt", 400},
            {"http://127.0.0.1/%2e%2e/outside.txt", 400},
            {"//etc/passwd", 404},
            {"/etc/passwd", 404},
            {"/escape-abs", 404},
            {"/escape-rel", 404},
            {"/escape-proc", 404},
            {"/parent-dir/outside.txt", 404},
            {"/sub/", 404},
            {"/.hidden", 404},
            {"*", 400},
            {"outside.txt", 400},
        };
        struct server *s = *state;
        struct response r;

        start_server(s, NULL);
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *req =
                    pxf_asprintf("GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].target);
                exchange(s, req, &r);
                if (r.status != cases[i].status)
                        fail_msg("%s: status %d, expected %d", cases[i].target, r.status,
                                 cases[i].status);
                assert_null(strstr(r.body, "SECRET"));
                assert_null(strstr(r.body, "root:"));
                response_clear(&r);
        }
        /* Absolute-form within the root is served. */
        exchange(s, "GET http://127.0.0.1//small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
}

static void symlinks(void **state)
{
        struct server *s = *state;
        struct response r;

        start_server(s, NULL);
        /* Links that stay beneath the root are followed. */
        exchange(s, "GET /inside-link HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        exchange(s, "GET /sub/up-link HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello pxe\n");
        response_clear(&r);
        /* Links out of it are not, whatever their form. */
        exchange(s, "GET /escape-rel HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 404);
        response_clear(&r);
        exchange(s, "GET /escape-abs HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 404);
        response_clear(&r);
}

static void not_found_and_dirs(void **state)
{
        struct server *s = *state;
        struct response r;
        double t0;

        start_server(s, NULL);
        static const char *const missing[] = {"/missing", "/sub",  "/sub/dir",
                                              "/",        "/?x=1", "/small.txt/x"};
        for (size_t i = 0; i < PXF_ELEMENTSOF(missing); i++) {
                _cleanup_free_ char *req =
                    pxf_asprintf("GET %s HTTP/1.1\r\nHost: t\r\n\r\n", missing[i]);
                exchange(s, req, &r);
                if (r.status != 404)
                        fail_msg("%s: status %d", missing[i], r.status);
                expect_header(&r, "Content-Type", "text/plain; charset=utf-8");
                assert_string_equal(r.body, "404 Not Found\n");
                response_clear(&r);
        }
        /* A FIFO is refused at once, not opened for reading (which would block). */
        t0 = now_s();
        exchange(s, "GET /pipe HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 404);
        assert_true(now_s() - t0 < 2.0);
        response_clear(&r);
        exchange(s, "GET /empty HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Length", "0");
        response_clear(&r);
}

static void methods(void **state)
{
        static const struct {
                const char *request;
                int status;
        } cases[] = {
            {"POST /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 405},
            {"PUT /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405},
            {"DELETE /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", 405},
            {"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 405},
            {"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501},
            {"get /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", 501},
        };
        struct server *s = *state;
        char v[64];

        start_server(s, NULL);
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++) {
                struct client *c = client_new(s);
                struct response r;

                send_str(c, cases[i].request);
                assert_int_equal(read_response(c, false, &r), 0);
                if (r.status != cases[i].status)
                        fail_msg("%s: status %d", cases[i].request, r.status);
                if (r.status == 405)
                        expect_header(&r, "Allow", "GET, HEAD");
                else
                        assert_null(header(&r, "Allow", v, sizeof v));
                expect_header(&r, "Connection", "close");
                response_clear(&r);
                expect_closed(c);
                client_free(c);
        }
}

static void malformed_requests(void **state)
{
#define RAW(str) str, sizeof(str) - 1
        static const struct {
                const char *request;
                size_t len;
                int status;
        } cases[] = {
            {RAW("garbage\r\n\r\n"), 400},
            {RAW("GET /small.txt HTTP/1.1\nHost: t\n\n"), 400},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: t\rX: y\r\n\r\n"), 400},
            {RAW("GET /small.txt\0 HTTP/1.1\r\nHost: t\r\n\r\n"), 400},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: \0t\r\n\r\n"), 400},
            {RAW("GET /small.txt HTTP/2.0\r\nHost: t\r\n\r\n"), 505},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n"), 400},
            {RAW("GET /small.txt HTTP/1.1\r\n\r\n"), 400},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n"), 400},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"), 400},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                 "Content-Length: 0\r\n\r\n"),
             400},
            {RAW("GET /small.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\n\r\n"),
             501},
            {RAW("GET /small.txt HTTP/1.1\r\nHost : t\r\n\r\n"), 400},
            {RAW("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"), 400}, /* TLS hello */
        };
#undef RAW
        struct server *s = *state;
        struct response r;
        uint8_t junk[4096];

        start_server(s, NULL);
        for (size_t i = 0; i < PXF_ELEMENTSOF(cases); i++) {
                struct client *c = client_new(s);
                send_raw(c, cases[i].request, cases[i].len);
                assert_int_equal(read_response(c, false, &r), 0);
                if (r.status != cases[i].status)
                        fail_msg("case %zu: status %d, expected %d", i, r.status, cases[i].status);
                expect_header(&r, "Connection", "close");
                response_clear(&r);
                expect_closed(c);
                client_free(c);
        }
        /* Random bytes: refused one way or another, and the server lives on. */
        for (int round = 0; round < 20; round++) {
                struct client *c = client_new(s);
                for (size_t i = 0; i < sizeof junk; i++)
                        junk[i] = pattern_byte(i, 100 + (unsigned)round);
                send_raw(c, junk, sizeof junk);
                if (read_response(c, false, &r) == 0)
                        assert_true(r.status >= 400);
                response_clear(&r);
                client_free(c);
        }
        exchange(s, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_int_equal(r.status, 200);
        response_clear(&r);
}

static void huge_header(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;
        _cleanup_free_ char *big = malloc(64 * 1024);
        size_t o;

        start_server(s, NULL);
        /* One 60 KiB field: 431 once 16 KiB are buffered, not after the whole thing. */
        c = client_new(s);
        o = (size_t)snprintf(big, 64 * 1024, "GET /small.txt HTTP/1.1\r\nHost: t\r\nX-Big: ");
        memset(big + o, 'a', 60 * 1024 - o);
        send_raw(c, big, 60 * 1024);
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 431);
        response_clear(&r);
        client_free(c);
        /* Too many fields. */
        c = client_new(s);
        o = (size_t)snprintf(big, 64 * 1024, "GET /small.txt HTTP/1.1\r\nHost: t\r\n");
        for (int i = 0; i < 100; i++)
                o += (size_t)snprintf(big + o, 64 * 1024 - o, "X-%d: v\r\n", i);
        o += (size_t)snprintf(big + o, 64 * 1024 - o, "\r\n");
        send_raw(c, big, o);
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 431);
        response_clear(&r);
        expect_closed(c);
        client_free(c);
        /* A long target. */
        c = client_new(s);
        o = (size_t)snprintf(big, 64 * 1024, "GET /");
        memset(big + o, 'a', 5000);
        o += 5000;
        o += (size_t)snprintf(big + o, 64 * 1024 - o, " HTTP/1.1\r\nHost: t\r\n\r\n");
        send_raw(c, big, o);
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 414);
        response_clear(&r);
        client_free(c);
}

static bool readable_within(int fd, int ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};

        return poll(&p, 1, ms) == 1;
}

static void slow_header_timeout(void **state)
{
        struct server *s = *state;
        struct client *slow, *silent;
        struct response r;
        double t0, t;

        start_server(s, &(struct httpd_config){.header_timeout_ms = 300});
        t0 = now_s();
        slow = client_new(s);
        silent = client_new(s);
        send_str(slow, "GET /small.txt HTTP/1.1\r\nHost: t\r\n");
        assert_int_equal(read_response(slow, false, &r), 0);
        t = now_s() - t0;
        assert_int_equal(r.status, 408);
        assert_true(t >= 0.25 && t < 3.0);
        response_clear(&r);
        expect_closed(slow);
        /* A client that sends nothing at all is closed without a word. */
        expect_closed(silent);
        assert_true(now_s() - t0 < 3.0);
        /* Trickling bytes does not reset the clock. */
        client_free(slow);
        slow = client_new(s);
        t0 = now_s();
        for (int i = 0; i < 40 && !readable_within(slow->fd, 0); i++) {
                assert_int_equal(send(slow->fd, "X", 1, MSG_NOSIGNAL), 1);
                usleep(50 * 1000);
        }
        (void)read_response(slow, false, &r);
        assert_int_equal(r.status, 408);
        assert_true(now_s() - t0 < 1.5); /* reset by each byte, it would take 2.3 s */
        response_clear(&r);
        client_free(slow);
        client_free(silent);
        stop_server(s);
        assert_int_equal(s->stats.timeouts, 3);
}

static void idle_timeout(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;
        double t0, t;

        start_server(s, &(struct httpd_config){.idle_timeout_ms = 300});
        c = client_new(s);
        send_str(c, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        response_clear(&r);
        t0 = now_s();
        expect_closed(c);
        t = now_s() - t0;
        assert_true(t >= 0.25 && t < 3.0);
        client_free(c);
        stop_server(s);
        assert_int_equal(s->stats.timeouts, 1);
}

/* A client that stops reading a response is dropped after the idle timeout. */
static void stalled_reader_dropped(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *b1 = pxf_asprintf("%s/build-1", s->dir);
        struct client *c;

        (void)write_pattern(b1, "big.bin", BIG_SIZE, 5);
        start_server(s, &(struct httpd_config){.idle_timeout_ms = 400});
        c = client_new(s);
        send_str(c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        usleep(1500 * 1000); /* never read: the socket buffers fill, writing stalls */
        stop_server(s);
        assert_int_equal(s->stats.timeouts, 1);
        assert_int_equal(s->stats.connections_open, 0);
        assert_true(s->stats.body_bytes_sent < BIG_SIZE);
        client_free(c);
}

/* A file that shrinks under a response (replaced in place with cp) ends it: the
 * connection is closed and freed at once, not left waiting for bytes that no longer
 * exist (it once held its socket, file and slot for good). */
static void shrinking_file_ends_response(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *b1 = pxf_asprintf("%s/build-1", s->dir);
        _cleanup_free_ char *path = pxf_asprintf("%s/big.bin", b1);
        struct client *c;
        char buf[65536];
        bool closed = false;

        (void)write_pattern(b1, "big.bin", BIG_SIZE, 7);
        start_server(s, &(struct httpd_config){.idle_timeout_ms = 60000});
        c = client_new(s);
        send_str(c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_true(readable_within(c->fd, 3000));
        assert_true(read(c->fd, buf, sizeof buf) > 0);
        assert_int_equal(truncate(path, 4096), 0);
        while (!closed && readable_within(c->fd, 5000))
                closed = read(c->fd, buf, sizeof buf) <= 0;
        assert_true(closed);
        stop_server(s);
        assert_int_equal(s->stats.connections_open, 0);
        assert_int_equal(s->stats.timeouts, 0);
        assert_true(s->stats.body_bytes_sent < BIG_SIZE);
        client_free(c);
}

/* One request on c, its response read; c stays open (keep-alive). */
static void one_request(struct client *c, const char *target, int want_status)
{
        struct response r;
        char req[128];

        (void)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
        send_str(c, req);
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, want_status);
        response_clear(&r);
}

/* Whether the server closed c (EOF within ms). */
static bool closed_within(struct client *c, int ms)
{
        char b;

        return readable_within(c->fd, ms) && recv(c->fd, &b, 1, 0) == 0;
}

/* At the cap, the connection that has waited longest for a request makes room for a new
 * one (keep-alive connections once kept a rack out); the others stay. */
static void waiting_connections_make_room(void **state)
{
        struct server *s = *state;
        struct client *a, *b, *c;

        start_server(s, &(struct httpd_config){.max_connections = 3});
        a = client_new_from(s, 0x7f000002);
        one_request(a, "/small.txt", 200);
        b = client_new_from(s, 0x7f000003);
        one_request(b, "/small.txt", 200);
        c = client_new_from(s, 0x7f000004);
        one_request(c, "/grub.cfg", 200);
        assert_true(closed_within(a, 3000));
        assert_false(closed_within(b, 200));
        one_request(b, "/grub.cfg", 200);
        client_free(a);
        client_free(b);
        client_free(c);
        stop_server(s);
        assert_int_equal(s->stats.made_room, 1);
        assert_int_equal(s->stats.accept_pauses, 0);
}

/* At the cap with every connection busy with a response, a new client waits in the
 * backlog; the first connection to finish its response makes room. */
static void busy_connections_make_the_next_wait(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *b1 = pxf_asprintf("%s/build-1", s->dir);
        struct client *a, *b, *c;
        struct response r;

        (void)write_pattern(b1, "big.bin", BIG_SIZE, 3);
        start_server(s, &(struct httpd_config){.max_connections = 2});
        /* Neither reads its 32 MiB: both stay busy. */
        a = client_new_from(s, 0x7f000002);
        send_str(a, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_true(readable_within(a->fd, 5000)); /* its response has started */
        b = client_new_from(s, 0x7f000003);
        send_str(b, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_true(readable_within(b->fd, 5000));
        c = client_new_from(s, 0x7f000004);
        send_str(c, "GET /grub.cfg HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_false(readable_within(c->fd, 500));
        /* a reads its response to the end; its connection then makes room. */
        assert_int_equal(read_response(a, false, &r), 0);
        assert_int_equal(r.status, 200);
        response_clear(&r);
        assert_true(readable_within(c->fd, 3000));
        assert_int_equal(read_response(c, false, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "set timeout=5\n");
        response_clear(&r);
        assert_true(closed_within(a, 3000));
        client_free(a);
        client_free(b);
        client_free(c);
        stop_server(s);
        assert_true(s->stats.accept_pauses >= 1);
        assert_true(s->stats.made_room >= 1);
}

/* One address gets max_per_source connections; the next is closed at once, while
 * another address is served. */
static void per_source_cap(void **state)
{
        struct server *s = *state;
        struct client *c[4], *other;

        start_server(s, &(struct httpd_config){.max_per_source = 3});
        for (int i = 0; i < 4; i++)
                c[i] = client_new(s);
        for (int i = 0; i < 3; i++)
                one_request(c[i], "/small.txt", 200);
        assert_true(closed_within(c[3], 3000));
        other = client_new_from(s, 0x7f000002);
        one_request(other, "/small.txt", 200);
        for (int i = 0; i < 4; i++)
                client_free(c[i]);
        client_free(other);
        stop_server(s);
        assert_int_equal(s->stats.per_source_refused, 1);
}

/* A connection's last request (max_requests) gets "Connection: close", and it ends. */
static void connections_retire(void **state)
{
        struct server *s = *state;
        struct client *c;
        struct response r;
        char v[32];

        start_server(s, &(struct httpd_config){.max_requests = 3});
        c = client_new(s);
        one_request(c, "/small.txt", 200);
        one_request(c, "/small.txt", 200);
        send_str(c, "HEAD /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_response(c, true, &r), 0);
        assert_non_null(header(&r, "Connection", v, sizeof v));
        assert_string_equal(v, "close");
        response_clear(&r);
        assert_true(closed_within(c, 3000));
        client_free(c);
        stop_server(s);
        assert_int_equal(s->stats.retired, 1);
}

/* ---- many large downloads --------------------------------------------------------- */

struct download {
        struct client *c;
        bool head_done, done;
        uint64_t length, got, hash;
};

/* Advances one download with what is readable; returns false when it failed. */
static bool download_step(struct download *d)
{
        ssize_t n = fill(d->c);

        if (n <= 0)
                return false;
        if (!d->head_done) {
                char *end = memmem(d->c->buf, d->c->len, "\r\n\r\n", 4);
                char *cl;
                if (!end)
                        return true;
                *end = '\0';
                if (strncmp(d->c->buf, "HTTP/1.1 200 ", 13) != 0 ||
                    !(cl = strcasestr(d->c->buf, "\r\nContent-Length: ")))
                        return false;
                d->length = strtoull(cl + 18, NULL, 10);
                consume(d->c, (size_t)(end - d->c->buf) + 4);
                d->head_done = true;
        }
        d->hash = fnv1a(d->hash, d->c->buf, d->c->len);
        d->got += d->c->len;
        d->c->len = 0;
        d->done = d->got >= d->length;
        return d->got <= d->length;
}

static void run_downloads(const struct server *s, struct download *d, size_t n, const char *path)
{
        struct pollfd p[N_PARALLEL];
        size_t left = n;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *req =
                    pxf_asprintf("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
                d[i] = (struct download){.c = client_new(s), .hash = FNV_INIT};
                send_str(d[i].c, req);
        }
        while (left > 0) {
                for (size_t i = 0; i < n; i++)
                        p[i] = (struct pollfd){.fd = d[i].done ? -1 : d[i].c->fd, .events = POLLIN};
                assert_true(poll(p, n, RECV_TIMEOUT_S * 1000) > 0);
                for (size_t i = 0; i < n; i++) {
                        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        if (!download_step(&d[i]))
                                fail_msg("download %zu failed after %" PRIu64 " bytes", i,
                                         d[i].got);
                        if (d[i].done)
                                left--;
                }
        }
}

static void concurrent_large(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *b1 = pxf_asprintf("%s/build-1", s->dir);
        uint64_t want = write_pattern(b1, "big.bin", BIG_SIZE, 7);
        struct download d[N_PARALLEL];
        double t0;

        /* Many machines: no per-source cap applies. */
        start_server(s, &(struct httpd_config){.max_per_source = N_PARALLEL});
        t0 = now_s();
        run_downloads(s, d, N_PARALLEL, "/big.bin");
        for (size_t i = 0; i < N_PARALLEL; i++) {
                assert_int_equal(d[i].length, BIG_SIZE);
                assert_int_equal(d[i].got, BIG_SIZE);
                assert_true(d[i].hash == want);
                client_free(d[i].c);
        }
        print_message("%d x %d MiB in %.2f s\n", N_PARALLEL, BIG_SIZE >> 20, now_s() - t0);
        stop_server(s);
        assert_int_equal(s->stats.responses_2xx, N_PARALLEL);
        assert_true(s->stats.body_bytes_sent == (uint64_t)N_PARALLEL * BIG_SIZE);
}

static void root_swap(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *b1 = pxf_asprintf("%s/build-1", s->dir);
        _cleanup_free_ char *b2 = pxf_asprintf("%s/build-2", s->dir);
        _cleanup_free_ char *tmp = pxf_asprintf("%s/current.tmp", s->dir);
        _cleanup_free_ char *old_big = pxf_asprintf("%s/big.bin", b1);
        uint64_t old_hash = write_pattern(b1, "big.bin", BIG_SIZE, 1);
        uint64_t new_hash, h;
        struct download slow, fresh;
        struct response r;

        make_build(s->dir, "build-2", "hello again\n");
        new_hash = write_pattern(b2, "big.bin", BIG_SIZE, 2);
        start_server(s, NULL);
        /* Start a download and stop reading it early. */
        slow = (struct download){.c = client_new(s), .hash = FNV_INIT};
        send_str(slow.c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        while (slow.got < 64 * 1024)
                assert_true(download_step(&slow));
        /* Publish build-2 by an atomic symlink swap, and delete the old file outright. */
        assert_int_equal(symlinkat("build-2", AT_FDCWD, tmp), 0);
        assert_int_equal(rename(tmp, s->root), 0);
        assert_int_equal(unlink(old_big), 0);
        /* New requests see the new folder. */
        exchange(s, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        assert_string_equal(r.body, "hello again\n");
        response_clear(&r);
        run_downloads(s, &fresh, 1, "/big.bin");
        assert_true(fresh.hash == new_hash);
        client_free(fresh.c);
        /* The download in flight ends with the old content. */
        while (!slow.done)
                assert_true(download_step(&slow));
        h = slow.hash;
        assert_int_equal(slow.got, BIG_SIZE);
        assert_true(h == old_hash);
        assert_true(h != new_hash);
        client_free(slow.c);
}

/* ---- interop and logging ---------------------------------------------------------- */

static void curl_range(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *out = pxf_asprintf("%s/curl.out", s->dir);
        _cleanup_free_ char *full = pxf_asprintf("%s/curl.full", s->dir);
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ char *want = file_bytes(s, "build-1", "data.bin", 1000, 1000);
        _cleanup_free_ char *got = NULL;
        struct pxf_error err = {0};
        size_t len = 0;
        int r;

        start_server(s, NULL);
        url = pxf_asprintf("http://127.0.0.1:%u/data.bin", s->port);
        /* curl is a CI dependency: missing, this fails (pxf_spawn_run cannot find it). */
        r = pxf_spawn_run((const char *const[]){"curl", "-sS", "--fail", "--range", "1000-1999",
                                                "-o", out, url, NULL},
                          NULL, &err);
        if (r < 0)
                fail_msg("curl --range: %s", err.msg);
        assert_int_equal(pxf_read_file(out, 4096, &got, &len), 0);
        assert_int_equal(len, 1000);
        assert_memory_equal(got, want, 1000);
        r = pxf_spawn_run((const char *const[]){"curl", "-sS", "--fail", "-o", full, url, NULL},
                          NULL, &err);
        if (r < 0)
                fail_msg("curl: %s", err.msg);
        free(got);
        got = NULL;
        assert_int_equal(pxf_read_file(full, 2 * DATA_SIZE, &got, &len), 0);
        assert_int_equal(len, DATA_SIZE);
        free(want);
        want = file_bytes(s, "build-1", "data.bin", 0, DATA_SIZE);
        assert_memory_equal(got, want, DATA_SIZE);
}

static void access_log(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *log_path = pxf_asprintf("%s/stderr.log", s->dir);
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        _cleanup_close_ int fd = open(log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        struct response r;
        size_t len;

        assert_true(saved >= 0 && fd >= 0);
        start_server(s, NULL);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        exchange(s, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        response_clear(&r);
        exchange(s, "GET /a\"b\\c%1b HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        response_clear(&r);
        stop_server(s);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        assert_int_equal(pxf_read_file(log_path, 65536, &text, &len), 0);
        if (!strstr(text, "http: 127.0.0.1:") ||
            !strstr(text, "\"GET\" \"/small.txt\" 200 10 bytes"))
                fail_msg("no access line for the GET in:\n%s", text);
        if (!strstr(text, "\"GET\" \"/a\\\"b\\\\c%1b\" 400 "))
                fail_msg("no escaped access line in:\n%s", text);
}

static size_t count_lines(const char *text, const char *needle)
{
        size_t n = 0;

        for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
                n++;
        return n;
}

static void access_log_rate_limit(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *log_path = pxf_asprintf("%s/stderr.log", s->dir);
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        _cleanup_close_ int fd = open(log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        struct client *c;
        struct response r;
        size_t len, logged;

        assert_true(saved >= 0 && fd >= 0);
        start_server(s, NULL);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        /* 60 refused requests at once, a few good ones, then one refused a second later. */
        c = client_new(s);
        for (int i = 0; i < 60; i++)
                send_str(c, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
        for (int i = 0; i < 60; i++) {
                assert_int_equal(read_response(c, false, &r), 0);
                response_clear(&r);
        }
        for (int i = 0; i < 3; i++) {
                send_str(c, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
                assert_int_equal(read_response(c, false, &r), 0);
                response_clear(&r);
        }
        usleep(1100 * 1000);
        send_str(c, "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(read_response(c, false, &r), 0);
        response_clear(&r);
        client_free(c);
        stop_server(s);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        assert_int_equal(pxf_read_file(log_path, 1 << 20, &text, &len), 0);
        logged = count_lines(text, "\"/missing\" 404");
        /* At most two one-second windows saw the burst; the good requests always log. */
        assert_true(logged <= 2 * 20 + 1);
        assert_int_equal(count_lines(text, "\"/small.txt\" 200"), 3);
        if (!strstr(text, "refused requests not logged (rate limit)"))
                fail_msg("no suppression summary in:\n%s", text);
        assert_int_equal(s->stats.responses_4xx, 61);
}

#define FD_SCAN_MAX 4096

/* Marks which fds are open now. */
static void open_fds(bool open[FD_SCAN_MAX])
{
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *e;

        assert_non_null(dir);
        memset(open, 0, FD_SCAN_MAX * sizeof(bool));
        while ((e = readdir(dir))) {
                int fd = atoi_safe(e->d_name);
                if (fd >= 0 && fd < FD_SCAN_MAX && fd != dirfd(dir))
                        open[fd] = true;
        }
        closedir(dir);
}

/* Every fd the server opens (listener, client sockets, files in flight) is
 * close-on-exec; fds inherited from whoever started the test are not its business. */
static void fds_close_on_exec(void **state)
{
        struct server *s = *state;
        _cleanup_free_ char *b1 = pxf_asprintf("%s/build-1", s->dir);
        static bool before[FD_SCAN_MAX], after[FD_SCAN_MAX];
        struct download d = {.hash = FNV_INIT};
        unsigned checked = 0;

        (void)write_pattern(b1, "big.bin", BIG_SIZE, 3);
        open_fds(before);
        start_server(s, NULL);
        d.c = client_new(s);
        send_str(d.c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
        while (d.got < 64 * 1024)
                assert_true(download_step(&d)); /* the file is open now */
        open_fds(after);
        for (int fd = 0; fd < FD_SCAN_MAX; fd++) {
                if (!after[fd] || before[fd])
                        continue;
                if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
                        fail_msg("fd %d is not close-on-exec", fd);
                checked++;
        }
        /* listener, both ends of the connection, the file, the stop pipe, the event base */
        assert_true(checked >= 6);
        client_free(d.c);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(bind_and_port, setup, teardown),
            cmocka_unit_test_setup_teardown(get_full, setup, teardown),
            cmocka_unit_test_setup_teardown(head_only, setup, teardown),
            cmocka_unit_test_setup_teardown(ranges, setup, teardown),
            cmocka_unit_test_setup_teardown(if_range, setup, teardown),
            cmocka_unit_test_setup_teardown(keep_alive_sequence, setup, teardown),
            cmocka_unit_test_setup_teardown(pipelined, setup, teardown),
            cmocka_unit_test_setup_teardown(http10_closes, setup, teardown),
            cmocka_unit_test_setup_teardown(http10_keep_alive, setup, teardown),
            cmocka_unit_test_setup_teardown(traversal_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(symlinks, setup, teardown),
            cmocka_unit_test_setup_teardown(not_found_and_dirs, setup, teardown),
            cmocka_unit_test_setup_teardown(methods, setup, teardown),
            cmocka_unit_test_setup_teardown(malformed_requests, setup, teardown),
            cmocka_unit_test_setup_teardown(huge_header, setup, teardown),
            cmocka_unit_test_setup_teardown(slow_header_timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(idle_timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(stalled_reader_dropped, setup, teardown),
            cmocka_unit_test_setup_teardown(shrinking_file_ends_response, setup, teardown),
            cmocka_unit_test_setup_teardown(waiting_connections_make_room, setup, teardown),
            cmocka_unit_test_setup_teardown(busy_connections_make_the_next_wait, setup, teardown),
            cmocka_unit_test_setup_teardown(per_source_cap, setup, teardown),
            cmocka_unit_test_setup_teardown(connections_retire, setup, teardown),
            cmocka_unit_test_setup_teardown(concurrent_large, setup, teardown),
            cmocka_unit_test_setup_teardown(root_swap, setup, teardown),
            cmocka_unit_test_setup_teardown(curl_range, setup, teardown),
            cmocka_unit_test_setup_teardown(access_log, setup, teardown),
            cmocka_unit_test_setup_teardown(access_log_rate_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(fds_close_on_exec, setup, teardown),
        };

        /* A client that goes away mid-response must not kill the process (serve's job). */
        signal(SIGPIPE, SIG_IGN);
        return pxf_test_main(tests, argc, argv);
}
