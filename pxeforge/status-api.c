/* status-api: the appliance's own pages, API and metrics (see status-api.h). */
#include <errno.h>
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "httpd/httpd.h"
#include "pxeforge/routing.h"
#include "pxeforge/status-api.h"
#include "status/report.h"
#include "status/timeline.h"
#include "tftpd/tftpd.h"

/* The page's files (status/page/), embedded at build time. */
#include "status-page.h"

#define MANIFEST_MAX (1024 * 1024)

/* ---- metrics ----------------------------------------------------------------------- */

static void write_tftp_metrics(const struct status_api *a, FILE *f)
{
        struct tftpd_stats t = {0};

        if (a->tftpd)
                tftpd_get_stats(a->tftpd, &t);
        fprintf(f,
                "# HELP pxeforge_tftp_transfers_total TFTP transfers by how they ended.\n"
                "# TYPE pxeforge_tftp_transfers_total counter\n"
                "pxeforge_tftp_transfers_total{result=\"completed\"} %" PRIu64 "\n"
                "pxeforge_tftp_transfers_total{result=\"failed\"} %" PRIu64 "\n"
                "pxeforge_tftp_transfers_total{result=\"aborted\"} %" PRIu64 "\n"
                "# HELP pxeforge_tftp_requests_refused_total TFTP requests answered with an "
                "ERROR.\n"
                "# TYPE pxeforge_tftp_requests_refused_total counter\n"
                "pxeforge_tftp_requests_refused_total %" PRIu64 "\n"
                "# HELP pxeforge_tftp_transfers_active TFTP transfers in progress.\n"
                "# TYPE pxeforge_tftp_transfers_active gauge\n"
                "pxeforge_tftp_transfers_active %u\n",
                t.completed, t.failed, t.aborted, t.refused, t.active);
}

static void write_http_metrics(const struct httpd_stats *h, FILE *f)
{
        fprintf(f,
                "# HELP pxeforge_http_responses_total HTTP responses by status class.\n"
                "# TYPE pxeforge_http_responses_total counter\n"
                "pxeforge_http_responses_total{class=\"2xx\"} %" PRIu64 "\n"
                "pxeforge_http_responses_total{class=\"4xx\"} %" PRIu64 "\n"
                "pxeforge_http_responses_total{class=\"5xx\"} %" PRIu64 "\n"
                "# HELP pxeforge_http_body_bytes_total HTTP body bytes sent.\n"
                "# TYPE pxeforge_http_body_bytes_total counter\n"
                "pxeforge_http_body_bytes_total %" PRIu64 "\n"
                "# HELP pxeforge_http_connections_open HTTP connections open.\n"
                "# TYPE pxeforge_http_connections_open gauge\n"
                "pxeforge_http_connections_open %u\n",
                h->responses_2xx, h->responses_4xx, h->responses_5xx, h->body_bytes_sent,
                h->connections_open);
}

static void write_metrics(const struct status_api *a, FILE *f, uint64_t now)
{
        struct httpd_stats h = {0};

        if (a->httpd)
                httpd_get_stats(a->httpd, &h);
        tl_write_metrics(a->timeline, f, now, STATUS_STALL_USEC);
        write_tftp_metrics(a, f);
        write_http_metrics(&h, f);
        reports_write_metrics(a->reports, h.bodies_too_large, f);
}

/* ---- the served build -------------------------------------------------------------- */

/* The manifest's "key: value" lines but the files (artifacts/manifest.c), as JSON. */
static void write_manifest(FILE *f, char *text)
{
        bool first = true;

        fputc('{', f);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                char *colon = strstr(line, ": ");

                if (line[0] == '#' || !colon || strncmp(line, "file:", 5) == 0)
                        continue;
                *colon = '\0';
                if (!first)
                        fputc(',', f);
                first = false;
                pxf_json_string(f, line);
                fputc(':', f);
                pxf_json_string(f, colon + 2);
        }
        fputc('}', f);
}

/* The folder's manifest, NUL-terminated, and when it was written; NULL if there is none. */
static char *read_manifest(const char *root, uint64_t *ret_mtime_ms)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        char *text = NULL;

        fd = pxf_open_beneath(root, "manifest", &st);
        if (fd < 0 || pxf_read_fd(fd, MANIFEST_MAX, &text, NULL) < 0)
                return NULL;
        *ret_mtime_ms = (uint64_t)st.st_mtim.tv_sec * 1000 + (uint64_t)st.st_mtim.tv_nsec / 1000000;
        return text;
}

/* {"name", "folder": where a symlink root points (`pxeforge up`'s current: build-N) or
 * null, "builtMs": the manifest's time, "manifest": its keys}. */
static void write_build(const struct status_api *a, FILE *f)
{
        char target[256];
        ssize_t n = readlink(a->root, target, sizeof target - 1);
        uint64_t built_ms = 0;
        _cleanup_free_ char *manifest = read_manifest(a->root, &built_ms);

        fputs("{\"name\":", f);
        pxf_json_string(f, a->name ? a->name : "");
        fputs(",\"folder\":", f);
        if (n > 0) {
                target[n] = '\0';
                pxf_json_string(f, target);
        } else {
                fputs("null", f);
        }
        if (manifest) {
                fprintf(f, ",\"builtMs\":%" PRIu64 ",\"manifest\":", built_ms);
                write_manifest(f, manifest);
        }
        fputs("}\n", f);
}

/* ---- answers ----------------------------------------------------------------------- */

struct page {
        const char *path, *type, *text;
};

static const struct page pages[] = {
    {"", "text/html; charset=utf-8", status_page_html},
    {"status.js", "text/javascript; charset=utf-8", status_page_js},
    {"status.css", "text/css; charset=utf-8", status_page_css},
};

enum api_kind { API_JSON, API_TEXT, API_BUILD, API_METRICS, API_NONE };

static enum api_kind api_kind(const char *path, const char **type)
{
        static const struct {
                const char *path, *type;
        } kinds[] = {
            [API_JSON] = {"api/machines", "application/json"},
            [API_TEXT] = {"api/machines.txt", "text/plain; charset=utf-8"},
            [API_BUILD] = {"api/build", "application/json"},
            [API_METRICS] = {"metrics", "text/plain; version=0.0.4; charset=utf-8"},
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(kinds); i++)
                if (strcmp(path, kinds[i].path) == 0) {
                        *type = kinds[i].type;
                        return (enum api_kind)i;
                }
        return API_NONE;
}

static void write_answer(const struct status_api *a, enum api_kind kind, FILE *f)
{
        uint64_t now = pxf_wall_usec();

        switch (kind) {
        case API_JSON:
                tl_write_json(a->timeline, f, now, STATUS_STALL_USEC);
                break;
        case API_TEXT:
                tl_write_text(a->timeline, f, now, STATUS_STALL_USEC);
                break;
        case API_BUILD:
                write_build(a, f);
                break;
        case API_METRICS:
                write_metrics(a, f, now);
                break;
        case API_NONE:
                break;
        }
}

int status_api_answer(void *ctx, const char *path, struct evbuffer *body, const char **type)
{
        const struct status_api *a = ctx;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        enum api_kind kind;
        FILE *f;

        for (size_t i = 0; i < PXF_ELEMENTSOF(pages); i++)
                if (strcmp(path, pages[i].path) == 0) {
                        *type = pages[i].type;
                        return evbuffer_add(body, pages[i].text, strlen(pages[i].text)) < 0 ? 500
                                                                                            : 200;
                }
        kind = api_kind(path, type);
        if (kind == API_NONE)
                return 404;
        f = open_memstream(&text, &len);
        if (!f)
                return 500;
        write_answer(a, kind, f);
        if (fclose(f) != 0 || evbuffer_add(body, text, len) < 0)
                return 500;
        return 200;
}

int status_api_receive(void *ctx, const char *path, const struct sockaddr *peer, size_t peer_len,
                       const char *body, size_t len, struct evbuffer *out, const char **type)
{
        const struct status_api *a = ctx;
        char ip[PXF_ADDR_TEXT_MAX];
        _cleanup_free_ char *text = NULL;
        size_t text_len = 0;
        FILE *f;
        int status;

        *type = "text/plain; charset=utf-8";
        bool reset = a->router && strcmp(path, ROUTER_RESET_PATH) == 0;
        if (!reset && strcmp(path, REPORT_API_PATH) != 0) /* the pages are read-only */
                return evbuffer_add_printf(out, "405 Method Not Allowed\n") < 0 ? 500 : 405;
        (void)pxf_addr_text(peer, peer_len, ip, sizeof ip);
        f = open_memstream(&text, &text_len);
        if (!f)
                return 500;
        status = reset ? router_reset(a->router, body, len, f)
                       : reports_receive(a->reports, ip, body, len, pxf_wall_usec(), f);
        if (fclose(f) != 0 || evbuffer_add(out, text, text_len) < 0)
                return 500;
        if (status == 200 && !reset)
                log_info("http: %s reported that it booted", ip);
        return status;
}
