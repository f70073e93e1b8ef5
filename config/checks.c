/* checks: rules for single values (names, paths, URLs, numbers). Each check returns NULL
 * when the value is fine, or a new message saying what is wrong and what is expected. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "config/config-internal.h"
#include "status/groups.h"

#define URL_SCHEMES "http, https, ftp, tftp, nfs"

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* One dot-separated label of a hostname: 1-63 of [A-Za-z0-9-], no '-' at either end. */
static bool label_ok(const char *s, size_t len)
{
        if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

char *cfg_check_hostname(const char *s)
{
        size_t len = strlen(s);
        const char *p = s;

        if (len == 0 || len > 253)
                goto bad;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);

                if (!label_ok(p, n))
                        goto bad;
                if (!dot)
                        return NULL;
                p = dot + 1;
        }
bad:
        return pxf_asprintf("invalid hostname '%s' (expected at most 253 characters in "
                            "dot-separated labels of letters, digits and '-', not starting "
                            "or ending with '-')",
                            s);
}

/* What Debian's useradd and groupadd take (shadow's is_valid_user_name): letters, digits,
 * '_', '.' and '-' (not first), an optional trailing '$' (Samba machine accounts), not all
 * digits; Image Customizer itself only refuses a blank name. */
char *cfg_check_account_name(const char *s)
{
        size_t len = strlen(s);
        bool ok = len > 0 && len <= 32 && s[0] != '-';
        bool digits = true;

        if (ok && s[len - 1] == '$')
                len--;
        for (size_t i = 0; ok && i < len; i++) {
                ok = is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-';
                digits = digits && s[i] >= '0' && s[i] <= '9';
        }
        if (ok && len > 0 && !digits && strcmp(s, ".") != 0 && strcmp(s, "..") != 0)
                return NULL;
        return pxf_asprintf("invalid name '%s' (expected letters, digits, '_', '.' and '-', not "
                            "starting with '-', not all digits, at most 32 characters)",
                            s);
}

/* A module parameter's name or value: one word for a modprobe.d options line. */
char *cfg_check_word(const char *s)
{
        if (!s[0])
                return pxf_strdup("must not be empty");
        for (const char *c = s; *c; c++)
                if (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')
                        return pxf_asprintf("'%s' must not contain spaces or line breaks", s);
        return NULL;
}

char *cfg_check_absolute(const char *s)
{
        if (s[0] == '/')
                return NULL;
        return pxf_asprintf("'%s' is not an absolute path", s);
}

/* iso/pxe destinations live in the artifacts folder: relative, or absolute from its root,
 * but never above it. */
char *cfg_check_live_destination(const char *s)
{
        bool names_something = false;

        for (const char *p = s; *p;) {
                size_t n = strcspn(p, "/");

                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return pxf_asprintf("'%s' must stay inside the artifacts folder ('..' "
                                            "is not allowed)",
                                            s);
                if (n > 0 && !(n == 1 && p[0] == '.'))
                        names_something = true;
                p += n;
                p += *p == '/';
        }
        if (!names_something)
                return pxf_asprintf("'%s' does not name a file", s);
        return NULL;
}

char *cfg_check_env_name(const char *s)
{
        bool ok = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_';

        for (size_t i = 1; ok && s[i]; i++)
                ok = is_alnum(s[i]) || s[i] == '_';
        if (ok)
                return NULL;
        return pxf_asprintf("invalid environment variable name '%s' (expected "
                            "[A-Za-z_][A-Za-z0-9_]*)",
                            s);
}

static bool scheme_ok(const char *s, size_t len)
{
        static const char *const schemes[] = {"http", "https", "ftp", "tftp", "nfs"};

        for (size_t i = 0; i < PXF_ELEMENTSOF(schemes); i++)
                if (strlen(schemes[i]) == len && strncasecmp(s, schemes[i], len) == 0)
                        return true;
        return false;
}

char *cfg_check_url(const char *s)
{
        const char *sep = strstr(s, "://");
        size_t scheme_len = sep ? (size_t)(sep - s) : 0;

        if (!sep || scheme_len == 0 || strcspn(s, "/?#") < scheme_len)
                return pxf_asprintf("invalid URL '%s' (expected scheme://host/path with a "
                                    "scheme out of: " URL_SCHEMES ")",
                                    s);
        if (!scheme_ok(s, scheme_len))
                return pxf_asprintf("unsupported URL scheme '%.*s' (expected one of: " URL_SCHEMES
                                    ")",
                                    (int)scheme_len, s);
        if (strcspn(sep + 3, "/?#") == 0)
                return pxf_asprintf("URL '%s' has no host", s);
        return NULL;
}

/* bootstrapFileUrl names the ISO itself: its last path element must not be empty. */
char *cfg_check_file_url(const char *s)
{
        const char *rest, *end, *slash;
        char *msg = cfg_check_url(s);

        if (msg)
                return msg;
        rest = strstr(s, "://") + 3;
        end = rest + strcspn(rest, "?#");
        slash = memrchr(rest, '/', (size_t)(end - rest));
        if (slash && slash + 1 < end)
                return NULL;
        return pxf_asprintf("URL '%s' does not end in a file name (expected the ISO file, "
                            "e.g. http://host/images/live.iso)",
                            s);
}

char *cfg_parse_mode(const char *s, mode_t *ret)
{
        unsigned long v;
        char *end = NULL;

        if (!s[0] || strspn(s, "01234567") != strlen(s))
                return pxf_asprintf("invalid permissions '%s' (expected an octal mode such as "
                                    "0644)",
                                    s);
        errno = 0;
        v = strtoul(s, &end, 8);
        if (errno != 0 || *end != '\0' || v > 07777)
                return pxf_asprintf("permissions '%s' out of range (0..07777)", s);
        *ret = (mode_t)v;
        return NULL;
}

char *cfg_parse_integer(const char *s, long long min, long long max, long long *ret)
{
        long long v;
        char *end = NULL;
        const char *digits = s + (s[0] == '-' || s[0] == '+');

        if (!digits[0] || strspn(digits, "0123456789") != strlen(digits))
                return pxf_asprintf("invalid integer '%s'", s);
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return pxf_asprintf("value '%s' out of range (%lld..%lld)", s, min, max);
        *ret = v;
        return NULL;
}

char *cfg_check_ipv4(const char *s)
{
        struct in_addr a;

        if (inet_pton(AF_INET, s, &a) == 1)
                return NULL;
        return pxf_asprintf("'%s' is not an IPv4 address (expected e.g. 192.168.77.1)", s);
}

char *cfg_check_mac_pattern(const char *s)
{
        uint8_t mac[6];

        if (pxf_mac_parse(s, mac) > 0)
                return NULL;
        return pxf_asprintf("'%s' is not a MAC address or its first octets (expected e.g. "
                            "52:54:00:12:34:56, or 52:54:00 for every MAC that starts so)",
                            s);
}

char *cfg_check_boot_target(const char *s)
{
        if (strcmp(s, "local") == 0 || strcmp(s, "ignore") == 0 || grp_name_valid(s))
                return NULL;
        return pxf_asprintf("'%s' is neither local, ignore nor a build's name (letters, digits, "
                            "'-', '_' and '.', at most %d)",
                            s, GRP_NAME_MAX);
}

/* A network interface name as the kernel takes it (IFNAMSIZ - 1, no '/', no blanks). */
char *cfg_check_interface(const char *s)
{
        size_t len = strlen(s);

        if (len == 0 || len > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                goto bad;
        for (size_t i = 0; i < len; i++)
                if (!is_alnum(s[i]) && !strchr("-_.@", s[i]))
                        goto bad;
        return NULL;
bad:
        return pxf_asprintf("'%s' is not a network interface name (1 to 15 of A-Z a-z 0-9 - _ . @)",
                            s);
}
