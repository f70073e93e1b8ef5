/* http-request: the pure HTTP/1.1 request codec of httpd (no I/O, no logging).
 *
 * It turns the bytes of one request head into a struct http_request, decodes the request
 * target into a path relative to the served root, parses a single byte Range and
 * resolves it against a file size, names a Content-Type by extension and escapes
 * peer-controlled strings for the log. Every function is bounded by the limits below and
 * is fuzzed (httpd/fuzz-http-request.c).
 *
 * Functions return 0 on success or a negative errno; a refused request carries the HTTP
 * status to answer with in http_request.status.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The request line plus all header lines, CRLFs included. Larger heads get 431. */
#define HTTP_MAX_HEAD_BYTES 16384
/* Header fields per request. More get 431. */
#define HTTP_MAX_HEADERS 64
/* The raw request target. Longer ones get 414. */
#define HTTP_MAX_TARGET 4096
/* The decoded path (no leading slash, NUL not counted). */
#define HTTP_MAX_PATH 4096
/* A method token; longer ones are not a method we implement (501). */
#define HTTP_MAX_METHOD 16
/* A Range or If-Range value kept for later; longer ones are ignored (full 200). */
#define HTTP_MAX_RANGE_VALUE 128
/* Empty lines skipped before a request line (RFC 9112 2.2 robustness). */
#define HTTP_MAX_LEADING_CRLF 4

enum http_method {
        HTTP_METHOD_GET,
        HTTP_METHOD_HEAD,
        HTTP_METHOD_POST,        /* for the appliance's API only; with a Content-Length */
        HTTP_METHOD_KNOWN_OTHER, /* a registered method we do not allow: 405 */
        HTTP_METHOD_UNKNOWN,     /* a valid token we do not know: 501 */
};

struct http_request {
        /* Filled on success, and as far as parsing got on failure (for the log). */
        enum http_method method;
        char method_name[HTTP_MAX_METHOD + 1];
        char target[HTTP_MAX_TARGET + 1]; /* raw, as sent */
        unsigned version_minor;           /* HTTP/1.<minor>, 0 or 1 */
        bool keep_alive;                  /* per version and Connection */
        bool has_range;                   /* exactly one Range field was sent */
        char range[HTTP_MAX_RANGE_VALUE + 1];
        bool has_if_range;
        char if_range[HTTP_MAX_RANGE_VALUE + 1];
        /* The body's length (POST only: a GET or HEAD with a body is refused); values too
         * large for 64 bits saturate, which no body limit lets through. */
        uint64_t content_length;
        /* On failure: the status to answer with (400, 411, 414, 431, 501, 505). */
        int status;
};

/* Looks for the end of a request head in buf. Returns the length of the head (request
 * line through the empty line) if complete, 0 if more bytes are needed, -EMSGSIZE (431)
 * when no head ends within HTTP_MAX_HEAD_BYTES, or -EBADMSG (400) as soon as a NUL, bare
 * CR or bare LF shows up, so a broken client is refused before it fills the buffer. */
int http_request_head_length(const char *buf, size_t len);

/* Parses one complete request head of len bytes (as measured by
 * http_request_head_length). On failure req->status says how to answer. */
int http_request_parse(const char *head, size_t len, struct http_request *req);

/* Decodes an origin-form or absolute-form target into a path relative to the root:
 * query dropped, percent-escapes decoded, empty segments collapsed. Returns -EINVAL (400)
 * for anything malformed or for "." / ".." segments and encoded '/' , NUL or control
 * characters, -ENAMETOOLONG (414) when it does not fit, and -ENOENT (404) for a directory
 * ("/" or a trailing slash) or a hidden name (a segment starting with '.', which is how
 * files in progress are named). */
int http_target_decode(const char *target, char *out, size_t out_size);

enum http_range_kind {
        HTTP_RANGE_FROM_TO, /* bytes=first-last */
        HTTP_RANGE_FROM,    /* bytes=first- */
        HTTP_RANGE_SUFFIX,  /* bytes=-length */
};

struct http_range {
        enum http_range_kind kind;
        uint64_t first; /* FROM_TO, FROM */
        uint64_t last;  /* FROM_TO */
        uint64_t suffix;
};

/* Parses one Range field value. Numbers too large for 64 bits saturate, which keeps
 * their meaning (an offset past any file, or the whole file). Returns -EINVAL for a
 * syntax error or another unit and -EOPNOTSUPP for several ranges: either way the
 * caller ignores Range and sends the whole file, as RFC 9110 14.2 allows. */
int http_range_parse(const char *value, struct http_range *ret);

struct http_range_result {
        int status;      /* 200, 206 or 416 */
        uint64_t offset; /* of the body within the file */
        uint64_t length; /* of the body */
};

/* The response for an optional range (NULL: none) over a file of size bytes. */
void http_range_resolve(const struct http_range *range, uint64_t size,
                        struct http_range_result *ret);

/* Content-Type for a path, by extension (case-insensitive); application/octet-stream
 * when unknown. */
const char *http_content_type(const char *path);

/* Copies len bytes of peer-controlled data into out (always NUL-terminated) for a log
 * line: printable ASCII stays, '"' and '\\' are backslash-escaped, everything else
 * becomes \xNN; a value that does not fit ends in "...". */
void http_log_escape(const char *in, size_t len, char *out, size_t out_size);

/* The standard reason phrase for a status this server sends ("" if unknown). */
const char *http_reason_phrase(int status);
