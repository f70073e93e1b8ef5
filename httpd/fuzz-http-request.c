/* fuzz-http-request: a libFuzzer entry point for the HTTP request codec.
 *
 * The input is a request head as a peer would send it. It goes through the framing scan
 * and the parser; the target of a parsed request through the decoder, its Range through
 * the range parser and the resolver (against a size taken from the input), and every
 * peer string through the log escaper. Replayed over tests/fuzz-corpus/http in normal
 * builds (tests/unit/fuzz-replay.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/http-request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parsed(const struct http_request *req, uint64_t file_size)
{
        char path[HTTP_MAX_PATH + 1], esc[256];
        struct http_range range;
        struct http_range_result res;

        (void)http_target_decode(req->target, path, sizeof path);
        (void)http_content_type(path);
        if (req->has_range && http_range_parse(req->range, &range) == 0) {
                http_range_resolve(&range, file_size, &res);
                if (res.status == 206 && (res.length == 0 || res.offset + res.length > file_size))
                        abort(); /* a 206 must lie within the file */
        }
        http_log_escape(req->target, strlen(req->target), esc, sizeof esc);
        http_log_escape(req->method_name, strlen(req->method_name), esc, sizeof esc);
}

/* The target and range decoders on the whole input as one NUL-terminated string. */
static void fuzz_strings(const uint8_t *data, size_t size, uint64_t file_size)
{
        char path[HTTP_MAX_PATH + 1];
        struct http_range range;
        struct http_range_result res;
        char *s = malloc(size + 1);

        if (!s)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        (void)http_target_decode(s, path, sizeof path);
        if (http_range_parse(s, &range) == 0)
                http_range_resolve(&range, file_size, &res);
        free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        struct http_request req;
        uint64_t file_size = 0;
        int n;

        for (size_t i = 0; i < size && i < 8; i++)
                file_size = file_size << 8 | data[i];
        n = http_request_head_length(buf, size);
        if (n > 0 && http_request_parse(buf, (size_t)n, &req) == 0)
                fuzz_parsed(&req, file_size);
        /* The parser must also survive heads the framing scan would not hand it. */
        if (http_request_parse(buf, size, &req) == 0)
                fuzz_parsed(&req, file_size);
        fuzz_strings(data, size, file_size);
        return 0;
}
