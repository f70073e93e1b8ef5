/* http-request: the pure request codec (see http-request.h). Strict where RFC 9112 lets a
 * server choose: no bare LF, no obs-fold, no body on GET/HEAD, a POST's body framed by
 * one Content-Length only, one Host. Everything a peer sends is bounded before it is copied. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "httpd/http-request.h"

/* ---- character classes ------------------------------------------------------------ */

static bool is_tchar(unsigned char c)
{
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                return true;
        return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP or HTAB (RFC 9110 5.5); obs-text is allowed, controls are not. */
static bool is_field_char(unsigned char c)
{
        return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c)
{
        return c == ' ' || c == '\t';
}

/* Copies a counted string into a bounded array; false when it does not fit. */
static bool copy_bounded(char *dst, size_t dst_size, const char *src, size_t n)
{
        if (n >= dst_size)
                return false;
        memcpy(dst, src, n);
        dst[n] = '\0';
        return true;
}

/* ---- head framing ----------------------------------------------------------------- */

int http_request_head_length(const char *buf, size_t len)
{
        size_t n = len < HTTP_MAX_HEAD_BYTES ? len : HTTP_MAX_HEAD_BYTES;
        size_t line_start = 0, leading = 0;
        bool seen_line = false;

        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\0' || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
                        return -EBADMSG;
                if (buf[i] != '\r')
                        continue;
                if (i + 1 == n)
                        break; /* the LF may still come */
                if (buf[i + 1] != '\n')
                        return -EBADMSG;
                if (i == line_start && seen_line)
                        return (int)(i + 2);
                if (i == line_start && ++leading > HTTP_MAX_LEADING_CRLF)
                        return -EBADMSG;
                seen_line = seen_line || i > line_start;
                line_start = i + 2;
                i++;
        }
        return len >= HTTP_MAX_HEAD_BYTES ? -EMSGSIZE : 0;
}

/* ---- request line ----------------------------------------------------------------- */

static enum http_method method_kind(const char *m)
{
        static const char *const known[] = {"PUT",     "DELETE", "CONNECT",
                                            "OPTIONS", "TRACE",  "PATCH"};

        if (strcmp(m, "GET") == 0)
                return HTTP_METHOD_GET;
        if (strcmp(m, "HEAD") == 0)
                return HTTP_METHOD_HEAD;
        if (strcmp(m, "POST") == 0)
                return HTTP_METHOD_POST;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                if (strcmp(m, known[i]) == 0)
                        return HTTP_METHOD_KNOWN_OTHER;
        return HTTP_METHOD_UNKNOWN;
}

static int fail(struct http_request *req, int status, int r)
{
        req->status = status;
        return r;
}

static int parse_method(const char *line, size_t n, size_t *pos, struct http_request *req)
{
        size_t i = 0;

        while (i < n && is_tchar((unsigned char)line[i]))
                i++;
        if (i == 0 || i >= n || line[i] != ' ')
                return fail(req, 400, -EINVAL);
        if (!copy_bounded(req->method_name, sizeof req->method_name, line, i))
                return fail(req, 501, -EOPNOTSUPP);
        req->method = method_kind(req->method_name);
        *pos = i + 1;
        return 0;
}

static int parse_target(const char *line, size_t n, size_t *pos, struct http_request *req)
{
        size_t start = *pos, i = start;

        while (i < n && line[i] > ' ' && line[i] != 0x7f)
                i++;
        if (i == start || i >= n || line[i] != ' ')
                return fail(req, 400, -EINVAL);
        if (!copy_bounded(req->target, sizeof req->target, line + start, i - start))
                return fail(req, 414, -ENAMETOOLONG);
        *pos = i + 1;
        return 0;
}

static int parse_version(const char *v, size_t n, struct http_request *req)
{
        if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
            v[7] < '0' || v[7] > '9')
                return fail(req, 400, -EINVAL);
        if (v[5] != '1')
                return fail(req, 505, -EPROTONOSUPPORT);
        /* 1.x with x > 1 is answered as 1.1 (RFC 9110 2.5). */
        req->version_minor = v[7] == '0' ? 0 : 1;
        return 0;
}

static int parse_request_line(const char *line, size_t n, struct http_request *req)
{
        size_t pos = 0;
        int r;

        r = parse_method(line, n, &pos, req);
        if (r < 0)
                return r;
        r = parse_target(line, n, &pos, req);
        if (r < 0)
                return r;
        return parse_version(line + pos, n - pos, req);
}

/* ---- header fields ---------------------------------------------------------------- */

struct header_state {
        unsigned count;
        bool host, content_length, body, transfer_encoding;
        bool conn_close, conn_keep_alive;
        bool range_seen, range_dup;
};

/* Connection is a comma list of tokens; only close and keep-alive matter here. */
static void parse_connection(const char *v, size_t n, struct header_state *st)
{
        size_t i = 0;

        while (i < n) {
                size_t start, end;

                while (i < n && (is_ows(v[i]) || v[i] == ','))
                        i++;
                start = i;
                while (i < n && v[i] != ',')
                        i++;
                end = i;
                while (end > start && is_ows(v[end - 1]))
                        end--;
                if (end - start == 5 && strncasecmp(v + start, "close", 5) == 0)
                        st->conn_close = true;
                if (end - start == 10 && strncasecmp(v + start, "keep-alive", 10) == 0)
                        st->conn_keep_alive = true;
        }
}

static int parse_content_length(const char *v, size_t n, struct header_state *st,
                                struct http_request *req)
{
        uint64_t value = 0;

        if (st->content_length || n == 0)
                return fail(req, 400, -EINVAL);
        for (size_t i = 0; i < n; i++) {
                unsigned digit = (unsigned)(v[i] - '0');

                if (v[i] < '0' || v[i] > '9')
                        return fail(req, 400, -EINVAL);
                value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
        }
        st->content_length = true;
        st->body = value > 0;
        req->content_length = value;
        return 0;
}

static void keep_range(const char *v, size_t n, struct header_state *st, struct http_request *req)
{
        if (st->range_seen)
                st->range_dup = true;
        st->range_seen = true;
        req->has_range = copy_bounded(req->range, sizeof req->range, v, n);
}

static int header_field(const char *name, size_t nlen, const char *v, size_t vlen,
                        struct header_state *st, struct http_request *req)
{
#define NAME_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(name, s, nlen) == 0)
        if (NAME_IS("host")) {
                if (st->host)
                        return fail(req, 400, -EINVAL);
                st->host = true;
        } else if (NAME_IS("content-length")) {
                return parse_content_length(v, vlen, st, req);
        } else if (NAME_IS("transfer-encoding")) {
                st->transfer_encoding = true;
        } else if (NAME_IS("connection")) {
                parse_connection(v, vlen, st);
        } else if (NAME_IS("range")) {
                keep_range(v, vlen, st, req);
        } else if (NAME_IS("if-range")) {
                req->has_if_range = copy_bounded(req->if_range, sizeof req->if_range, v, vlen);
        }
        return 0;
#undef NAME_IS
}

static int parse_header_line(const char *line, size_t n, struct header_state *st,
                             struct http_request *req)
{
        size_t colon = 0, vs, ve;

        if (++st->count > HTTP_MAX_HEADERS)
                return fail(req, 431, -E2BIG);
        /* A leading space is obs-fold, space before the colon is smuggling bait: both 400. */
        while (colon < n && is_tchar((unsigned char)line[colon]))
                colon++;
        if (colon == 0 || colon >= n || line[colon] != ':')
                return fail(req, 400, -EINVAL);
        for (size_t i = colon + 1; i < n; i++)
                if (!is_field_char((unsigned char)line[i]))
                        return fail(req, 400, -EINVAL);
        vs = colon + 1;
        ve = n;
        while (vs < ve && is_ows(line[vs]))
                vs++;
        while (ve > vs && is_ows(line[ve - 1]))
                ve--;
        return header_field(line, colon, line + vs, ve - vs, st, req);
}

/* RFC 9112 6: a GET or HEAD with a body is refused, a transfer coding is not implemented,
 * a POST must say how long its body is. */
static int check_framing(const struct header_state *st, struct http_request *req)
{
        bool get_or_head = req->method == HTTP_METHOD_GET || req->method == HTTP_METHOD_HEAD;

        if (st->transfer_encoding && st->content_length)
                return fail(req, 400, -EINVAL);
        if (st->transfer_encoding)
                return fail(req, 501, -EOPNOTSUPP);
        if (st->body && get_or_head)
                return fail(req, 400, -EINVAL);
        if (req->method == HTTP_METHOD_POST && !st->content_length)
                return fail(req, 411, -EINVAL);
        if (req->version_minor >= 1 && !st->host)
                return fail(req, 400, -EINVAL);
        return 0;
}

/* ---- whole head ------------------------------------------------------------------- */

/* The next line of [*p, end) without its CRLF; false when none is complete or a bare CR,
 * bare LF or NUL is in it. */
static bool next_line(const char **p, const char *end, const char **line, size_t *n)
{
        const char *s = *p;

        for (const char *c = s; c < end; c++) {
                if (*c == '\0' || *c == '\n')
                        return false;
                if (*c != '\r')
                        continue;
                if (c + 1 >= end || c[1] != '\n')
                        return false;
                *line = s;
                *n = (size_t)(c - s);
                *p = c + 2;
                return true;
        }
        return false;
}

static int parse_headers(const char **p, const char *end, struct header_state *st,
                         struct http_request *req)
{
        for (;;) {
                const char *line;
                size_t n;
                int r;

                if (!next_line(p, end, &line, &n))
                        return fail(req, 400, -EBADMSG);
                if (n == 0)
                        return 0;
                r = parse_header_line(line, n, st, req);
                if (r < 0)
                        return r;
        }
}

int http_request_parse(const char *head, size_t len, struct http_request *req)
{
        const char *p = head, *end = head + len, *line = NULL;
        struct header_state st = {0};
        size_t n = 0;
        int r;

        *req = (struct http_request){.status = 400};
        if (len > HTTP_MAX_HEAD_BYTES)
                return fail(req, 431, -EMSGSIZE);
        for (unsigned i = 0; n == 0; i++)
                if (i > HTTP_MAX_LEADING_CRLF || !next_line(&p, end, &line, &n))
                        return fail(req, 400, -EBADMSG);
        r = parse_request_line(line, n, req);
        if (r < 0)
                return r;
        r = parse_headers(&p, end, &st, req);
        if (r < 0)
                return r;
        if (p != end)
                return fail(req, 400, -EBADMSG);
        r = check_framing(&st, req);
        if (r < 0)
                return r;
        if (st.range_dup)
                req->has_range = false;
        req->keep_alive =
            req->version_minor >= 1 ? !st.conn_close : st.conn_keep_alive && !st.conn_close;
        req->status = 0;
        return 0;
}

/* ---- target ----------------------------------------------------------------------- */

/* Skips "http://authority" of an absolute-form target (RFC 9112 3.2.2); the authority is
 * not used for routing, there is one root. Returns the path part or NULL if malformed. */
static const char *skip_absolute_form(const char *t)
{
        size_t i;

        if (strncasecmp(t, "http://", 7) == 0)
                t += 7;
        else if (strncasecmp(t, "https://", 8) == 0)
                t += 8;
        else
                return NULL;
        for (i = 0; t[i] && t[i] != '/' && t[i] != '?'; i++)
                if (t[i] == '@' || t[i] == '#' || t[i] == '%' || t[i] <= ' ' || t[i] == 0x7f)
                        return NULL;
        if (i == 0)
                return NULL;
        return t + i;
}

static bool is_raw_path_char(unsigned char c)
{
        return c > ' ' && c < 0x7f && !strchr("\"<>\\^`{|}#", c);
}

/* Decodes the byte at t[*i] (a percent-escape or a plain char); -EINVAL if refused. */
static int decode_byte(const char *t, size_t *i, unsigned char *ret)
{
        int hi, lo;

        if (t[*i] != '%') {
                if (!is_raw_path_char((unsigned char)t[*i]))
                        return -EINVAL;
                *ret = (unsigned char)t[(*i)++];
                return 0;
        }
        hi = pxf_hex_digit(t[*i + 1]);
        lo = hi < 0 ? -1 : pxf_hex_digit(t[*i + 2]);
        if (lo < 0)
                return -EINVAL;
        *ret = (unsigned char)(hi * 16 + lo);
        *i += 3;
        /* An encoded '/' or backslash would change the segment structure behind our back. */
        if (*ret < 0x20 || *ret == 0x7f || *ret == '/' || *ret == '\\')
                return -EINVAL;
        return 0;
}

/* Ends the segment out[seg, len): empty ones collapse, "." and ".." are refused. */
static int end_segment(const char *out, size_t seg, size_t len)
{
        size_t n = len - seg;

        if (n == 0)
                return 0;
        if ((n == 1 && out[seg] == '.') || (n == 2 && out[seg] == '.' && out[seg + 1] == '.'))
                return -EINVAL;
        if (out[seg] == '.')
                return -ENOENT;
        return 0;
}

static int decode_path(const char *t, char *out, size_t out_size)
{
        size_t i = 0, len = 0, seg = 0;
        int r;

        for (;;) {
                unsigned char c;

                if (t[i] == '\0' || t[i] == '?' || t[i] == '/') {
                        r = end_segment(out, seg, len);
                        if (r < 0)
                                return r;
                        if (t[i] != '/')
                                break;
                        if (len > seg) {
                                if (len + 1 >= out_size)
                                        return -ENAMETOOLONG;
                                out[len++] = '/';
                        }
                        seg = len;
                        i++;
                        continue;
                }
                r = decode_byte(t, &i, &c);
                if (r < 0)
                        return r;
                if (len + 1 >= out_size)
                        return -ENAMETOOLONG;
                out[len++] = (char)c;
        }
        /* A trailing slash names a directory, and directories are never listed. */
        if (len == 0 || seg == len)
                return -ENOENT;
        out[len] = '\0';
        return 0;
}

int http_target_decode(const char *target, char *out, size_t out_size)
{
        const char *path = target;
        int r;

        if (out_size == 0)
                return -ENAMETOOLONG;
        out[0] = '\0';
        if (path[0] != '/')
                path = skip_absolute_form(target);
        if (!path)
                return -EINVAL;
        if (path[0] != '/')
                return -ENOENT; /* "http://host" or "http://host?q" is the root */
        r = decode_path(path, out, out_size);
        if (r < 0)
                out[0] = '\0';
        return r;
}

/* ---- ranges ----------------------------------------------------------------------- */

/* Reads 1*DIGIT, saturating at UINT64_MAX. */
static bool parse_u64(const char **p, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;

        if (*s < '0' || *s > '9')
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned)(*s - '0');
                v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        }
        *p = s;
        *ret = v;
        return true;
}

static int parse_range_spec(const char **p, struct http_range *ret)
{
        if (**p == '-') {
                (*p)++;
                ret->kind = HTTP_RANGE_SUFFIX;
                return parse_u64(p, &ret->suffix) ? 0 : -EINVAL;
        }
        if (!parse_u64(p, &ret->first) || **p != '-')
                return -EINVAL;
        (*p)++;
        ret->kind = HTTP_RANGE_FROM;
        if (**p < '0' || **p > '9')
                return 0;
        ret->kind = HTTP_RANGE_FROM_TO;
        (void)parse_u64(p, &ret->last);
        return ret->last < ret->first ? -EINVAL : 0;
}

int http_range_parse(const char *value, struct http_range *ret)
{
        const char *p = value;
        struct http_range r = {0};

        if (strncasecmp(p, "bytes=", 6) != 0)
                return -EINVAL;
        p += 6;
        /* range-set is a list: empty elements and OWS around commas are allowed. */
        while (is_ows(*p) || *p == ',')
                p++;
        if (parse_range_spec(&p, &r) < 0)
                return -EINVAL;
        while (is_ows(*p))
                p++;
        if (*p != '\0' && *p != ',')
                return -EINVAL;
        while (is_ows(*p) || *p == ',')
                p++;
        if (*p != '\0')
                return -EOPNOTSUPP;
        *ret = r;
        return 0;
}

void http_range_resolve(const struct http_range *range, uint64_t size,
                        struct http_range_result *ret)
{
        *ret = (struct http_range_result){.status = 200, .offset = 0, .length = size};
        if (!range)
                return;
        if (range->kind == HTTP_RANGE_SUFFIX) {
                /* A zero suffix is unsatisfiable; any suffix of an empty file is all of it. */
                if (range->suffix == 0)
                        *ret = (struct http_range_result){.status = 416};
                else if (size > 0) {
                        uint64_t n = range->suffix < size ? range->suffix : size;
                        *ret = (struct http_range_result){206, size - n, n};
                }
                return;
        }
        if (range->first >= size) {
                *ret = (struct http_range_result){.status = 416};
                return;
        }
        uint64_t last = size - 1;
        if (range->kind == HTTP_RANGE_FROM_TO && range->last < last)
                last = range->last;
        *ret = (struct http_range_result){206, range->first, last - range->first + 1};
}

/* ---- content types, log escaping, reasons ---------------------------------------- */

const char *http_content_type(const char *path)
{
        /* EDK2 HTTP Boot decides what an image is by these three types first. */
        static const struct {
                const char *ext, *type;
        } table[] = {
            {"efi", "application/efi"},           {"iso", "application/vnd.efi-iso"},
            {"img", "application/vnd.efi-img"},   {"cfg", "text/plain; charset=utf-8"},
            {"txt", "text/plain; charset=utf-8"}, {"ipxe", "text/plain; charset=utf-8"},
            {"json", "application/json"},         {"gz", "application/gzip"},
            {"tgz", "application/gzip"},          {"xz", "application/x-xz"},
            {"zst", "application/zstd"},          {"tar", "application/x-tar"},
            {"cpio", "application/x-cpio"},       {"sig", "application/pgp-signature"},
        };
        const char *slash = strrchr(path, '/');
        const char *dot = strrchr(slash ? slash + 1 : path, '.');

        if (dot && dot[1] != '\0')
                for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
                        if (strcasecmp(dot + 1, table[i].ext) == 0)
                                return table[i].type;
        return "application/octet-stream";
}

void http_log_escape(const char *in, size_t len, char *out, size_t out_size)
{
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;

        if (out_size < 8) {
                if (out_size > 0)
                        out[0] = '\0';
                return;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)in[i];
                char e[4] = {(char)c};
                size_t n = 1;

                if (c == '"' || c == '\\') {
                        e[0] = '\\';
                        e[1] = (char)c;
                        n = 2;
                } else if (c < 0x20 || c >= 0x7f) {
                        e[0] = '\\';
                        e[1] = 'x';
                        e[2] = hex[c >> 4];
                        e[3] = hex[c & 15];
                        n = 4;
                }
                if (o + n + 4 > out_size) { /* room for "..." and the NUL */
                        memcpy(out + o, "...", 3);
                        o += 3;
                        break;
                }
                memcpy(out + o, e, n);
                o += n;
        }
        out[o] = '\0';
}

const char *http_reason_phrase(int status)
{
        switch (status) {
        case 200:
                return "OK";
        case 206:
                return "Partial Content";
        case 400:
                return "Bad Request";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 408:
                return "Request Timeout";
        case 411:
                return "Length Required";
        case 413:
                return "Content Too Large";
        case 414:
                return "URI Too Long";
        case 416:
                return "Range Not Satisfiable";
        case 429:
                return "Too Many Requests";
        case 431:
                return "Request Header Fields Too Large";
        case 500:
                return "Internal Server Error";
        case 501:
                return "Not Implemented";
        case 503:
                return "Service Unavailable";
        case 505:
                return "HTTP Version Not Supported";
        default:
                return "";
        }
}
