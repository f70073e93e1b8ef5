/* Allocation and string-vector helpers. Out of memory is not a condition pxeforge tries
 * to survive: these abort, which keeps every caller free of OOM branches. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static void *oom_check(void *p)
{
        if (!p) {
                fputs("pxeforge: out of memory\n", stderr);
                abort();
        }
        return p;
}

char *pxf_strdup(const char *s)
{
        return s ? oom_check(strdup(s)) : NULL;
}

void *pxf_calloc(size_t n, size_t size)
{
        return oom_check(calloc(n ? n : 1, size ? size : 1));
}

void *pxf_reallocarray(void *p, size_t n, size_t size)
{
        return oom_check(reallocarray(p, n ? n : 1, size ? size : 1));
}

char *pxf_asprintf(const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return oom_check(r < 0 ? NULL : s);
}

size_t pxf_strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

void pxf_strv_push(char ***v, const char *s)
{
        size_t n = pxf_strv_length(*v);

        *v = pxf_reallocarray(*v, n + 2, sizeof(char *));
        (*v)[n] = pxf_strdup(s);
        (*v)[n + 1] = NULL;
}

void pxf_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

struct timeval pxf_timeval_from_ms(uint64_t ms)
{
        return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                                .tv_usec = (suseconds_t)(ms % 1000 * 1000)};
}

int pxf_thread_count(int requested, int max)
{
        long n = requested > 0 ? requested : sysconf(_SC_NPROCESSORS_ONLN);

        return n < 1 ? 1 : n > max ? max : (int)n;
}

bool pxf_has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), k = strlen(suffix);

        return n > k && strcmp(s + n - k, suffix) == 0;
}

bool pxf_text_has_line(const char *text, const char *line)
{
        size_t len = strlen(line);

        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                if (n == len && strncmp(p, line, len) == 0)
                        return true;
                p += n + (p[n] == '\n');
        }
        return false;
}

const char *pxf_path_trim(const char *path, size_t *ret_len)
{
        const char *p = path;
        size_t len;

        while (*p == '/' || (p[0] == '.' && p[1] == '/'))
                p += *p == '/' ? 1 : 2;
        len = strlen(p);
        while (len > 0 && p[len - 1] == '/')
                len--;
        *ret_len = len;
        return p;
}

void pxf_troff_text(FILE *f, const char *s)
{
        bool line_start = true;

        for (; *s; s++) {
                /* ` becomes ', which would start a request as well. */
                if (line_start && (*s == '.' || *s == '\'' || *s == '`'))
                        fputs("\\&", f);
                line_start = *s == '\n';
                if (*s == '\\')
                        fputs("\\e", f);
                else if (*s == '-')
                        fputs("\\-", f);
                else if (*s == '`')
                        fputc('\'', f);
                else
                        fputc(*s, f);
        }
}

int pxf_compare_strings(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void pxf_strv_sort(char **v)
{
        size_t n = pxf_strv_length(v);

        if (n > 1)
                qsort(v, n, sizeof *v, pxf_compare_strings);
}

bool pxf_strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

char *pxf_strv_join(char *const *v, const char *sep)
{
        size_t len = 1;
        char *s;

        for (size_t i = 0; v && v[i]; i++)
                len += strlen(v[i]) + strlen(sep);
        s = pxf_calloc(len, 1);
        for (size_t i = 0; v && v[i]; i++) {
                if (i > 0)
                        strcat(s, sep);
                strcat(s, v[i]);
        }
        return s;
}

void pxf_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                if (*c == '"' || *c == '\\')
                        fprintf(f, "\\%c", *c);
                else if (*c == '\n')
                        fputs("\\n", f);
                else if (*c < 0x20 || *c == 0x7f)
                        fprintf(f, "\\u%04x", *c);
                else
                        fputc(*c, f);
        }
        fputc('"', f);
}

unsigned pxf_addr_text(const struct sockaddr *sa, size_t salen, char *out, size_t size)
{
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        if (sa->sa_family == AF_INET && salen >= sizeof(*in) &&
            inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)size))
                return ntohs(in->sin_port);
        if (sa->sa_family == AF_INET6 && salen >= sizeof(*in6) &&
            (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)
                 ? inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out, (socklen_t)size)
                 : inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)size)))
                return ntohs(in6->sin6_port);
        (void)snprintf(out, size, "?");
        return 0;
}

bool pxf_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
        if (a->sa_family != b->sa_family)
                return false;
        if (a->sa_family == AF_INET)
                return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
        if (a->sa_family == AF_INET6)
                return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
                              &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
                              sizeof(struct in6_addr)) == 0;
        return false;
}

int pxf_hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int pxf_mac_parse(const char *s, uint8_t mac[6])
{
        char sep = 0;
        int n = 0;

        for (;;) {
                int hi = pxf_hex_digit(s[0]), lo = hi < 0 ? -1 : pxf_hex_digit(s[1]);
                if (lo < 0 || n == 6)
                        return -EINVAL;
                mac[n++] = (uint8_t)(hi << 4 | lo);
                s += 2;
                if (!*s)
                        return n;
                if ((*s != ':' && *s != '-') || (sep && *s != sep))
                        return -EINVAL;
                sep = *s++;
        }
}

static const char *const arch_names[PXF_ARCH_COUNT] = {
    "bios", "efi-x64", "efi-x64-http", "efi-arm64", "efi-arm64-http",
};

unsigned pxf_arch_from_name(const char *name)
{
        for (unsigned i = 0; i < PXF_ARCH_COUNT; i++)
                if (strcmp(name, arch_names[i]) == 0)
                        return 1u << i;
        return 0;
}

const char *pxf_arch_name(unsigned bit)
{
        for (unsigned i = 0; i < PXF_ARCH_COUNT; i++)
                if (bit == 1u << i)
                        return arch_names[i];
        return NULL;
}
