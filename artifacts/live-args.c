/* Kernel arguments of live boots, the bootstrap ISO's URL and name, the ISO volume label
 * and dracut's version: pure text functions, so every argument a machine boots with is
 * unit-tested. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "artifacts/live-internal.h"

/* Base args that name the disk boot's root, files or network setup, or a live boot's own
 * settings: a live boot sets these itself, and two values of one arg would fight. */
static const char *const conflicting_keys[] = {
    "root",   "rootfstype", "rootflags",  "ro",         "rw",           "ip",
    "initrd", "BOOT_IMAGE", "rd.neednet", "rd.overlay", "rd.overlayfs",
};
static const char *const conflicting_prefixes[] = {"rd.live.", "rd.overlay."};

/* Characters a GRUB script word cannot hold unquoted (quotes, expansion, command and
 * block separators, redirections, comments); whitespace and control characters are
 * refused as well, since they would split an argument or end the line. */
#define GRUB_SPECIAL "\"'\\;$&|<>{}#"

static bool is_conflicting(const char *arg)
{
        size_t key_len = strcspn(arg, "=");

        for (size_t i = 0; i < PXF_ELEMENTSOF(conflicting_keys); i++)
                if (strlen(conflicting_keys[i]) == key_len &&
                    strncmp(arg, conflicting_keys[i], key_len) == 0)
                        return true;
        for (size_t i = 0; i < PXF_ELEMENTSOF(conflicting_prefixes); i++)
                if (strncmp(arg, conflicting_prefixes[i], strlen(conflicting_prefixes[i])) == 0)
                        return true;
        return false;
}

const char *art_grub_unsafe_char(const char *s)
{
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr(GRUB_SPECIAL, *p))
                        return p;
        return NULL;
}

static void describe_char(char c, char *buf, size_t size)
{
        if (c == '\n')
                snprintf(buf, size, "a newline");
        else if (c == ' ')
                snprintf(buf, size, "a space");
        else if (c == '\t')
                snprintf(buf, size, "a tab");
        else if ((unsigned char)c < ' ' || c == 0x7f)
                snprintf(buf, size, "control character 0x%02x", (unsigned char)c);
        else
                snprintf(buf, size, "'%c'", c);
}

/* The word as it can be shown in a message: control characters become '?'. */
static char *printable(const char *s)
{
        char *out = pxf_strdup(s);

        for (char *p = out; *p; p++)
                if ((unsigned char)*p < ' ' || *p == 0x7f)
                        *p = '?';
        return out;
}

/* what names the argument's source, e.g. "pxe.kernelCommandLine.extraCommandLine". */
static int check_arg(const char *what, const char *word, struct pxf_error *err)
{
        const char *bad = art_grub_unsafe_char(word);
        _cleanup_free_ char *shown = NULL;
        char desc[32];

        if (!bad)
                return 0;
        describe_char(*bad, desc, sizeof desc);
        shown = printable(word);
        return pxf_error_set(err, -EINVAL,
                             "%s: kernel argument '%s' contains %s, which GRUB would mis-parse "
                             "in a linux line",
                             what, shown, desc);
}

static int push_checked(char ***args, const char *what, const char *arg, struct pxf_error *err)
{
        int r;

        if (!arg[0]) /* an empty string is no argument */
                return 0;
        r = check_arg(what, arg, err);
        if (r < 0)
                return r;
        pxf_strv_push(args, arg);
        return 0;
}

static const char *section(const struct art_live_boot *b)
{
        return b->medium == ART_LIVE_PXE ? "pxe" : "iso";
}

static int check_boot(const struct art_live_boot *b, struct pxf_error *err)
{
        if (b->medium != ART_LIVE_PXE && b->medium != ART_LIVE_ISO)
                return pxf_error_set(err, -EINVAL, "unknown live boot medium %d", (int)b->medium);
        if (b->initramfs != CFG_INITRAMFS_BOOTSTRAP && b->initramfs != CFG_INITRAMFS_FULL_OS)
                return pxf_error_set(err, -EINVAL,
                                     "%s.initramfsType is not set (expected bootstrap or full-os)",
                                     section(b));
        if (b->initramfs == CFG_INITRAMFS_FULL_OS)
                return 0;
        if (b->dracut_major <= 0)
                return pxf_error_set(err, -EINVAL,
                                     "the image's dracut version is unknown; a bootstrap "
                                     "initramfs is made by dracut");
        if (b->medium == ART_LIVE_PXE && (!b->bootstrap_url || !b->bootstrap_url[0]))
                return pxf_error_set(err, -EINVAL, "no URL for the bootstrap ISO");
        if (b->medium == ART_LIVE_ISO && !art_iso_volume_label_valid(b->volume_label))
                return pxf_error_set(err, -EINVAL,
                                     "invalid ISO volume label '%s' (expected 1 to 32 characters "
                                     "out of A-Z 0-9 _)",
                                     b->volume_label ? b->volume_label : "");
        return 0;
}

/* dracut before 110 reads rd.live.overlay.overlayfs; dracut-ng 110 renamed it to the
 * boolean form of rd.overlay (dracut.cmdline(7), "Deprecated, renamed Options"; the
 * intermediate name rd.overlayfs never shipped in a release). 110 still maps the old name,
 * with a deprecation warning, but the old name is slated for removal, so each version gets
 * only its own name. `rd.overlay=1`, not `yes`: dracut-ng takes any other value of
 * rd.overlay as the device of a persistent overlay. */
static const char *overlay_arg(int dracut_major)
{
        return dracut_major >= ART_DRACUT_OVERLAY_V ? "rd.overlay=1"
                                                    : "rd.live.overlay.overlayfs=1";
}

/* full-os: nothing, the kernel's rootfs is the initramfs and systemd runs from it.
 * bootstrap: dracut's dmsquash-live mounts LiveOS/squashfs.img of the ISO under an
 * overlayfs; over PXE livenet downloads the ISO first, which needs the network up. */
static int mode_args(const struct art_live_boot *b, char ***args, struct pxf_error *err)
{
        _cleanup_free_ char *root = NULL;
        int r;

        if (b->initramfs == CFG_INITRAMFS_FULL_OS)
                return 0;
        if (b->medium == ART_LIVE_PXE)
                root = pxf_asprintf("root=live:%s", b->bootstrap_url);
        else
                root = pxf_asprintf("root=live:CDLABEL=%s", b->volume_label);
        r = push_checked(args, "the bootstrap URL", root, err);
        if (r < 0)
                return r;
        pxf_strv_push(args, "rd.live.image");
        pxf_strv_push(args, overlay_arg(b->dracut_major));
        if (b->medium == ART_LIVE_PXE) {
                pxf_strv_push(args, "ip=dhcp");
                pxf_strv_push(args, "rd.neednet=1");
        }
        return 0;
}

/* Disk-boot args set root, network and overlay for a disk: a live boot sets its own. */
static int push_unless_conflicting(char ***args, const char *what, char *const *src,
                                   struct pxf_error *err)
{
        for (size_t i = 0; src && src[i]; i++) {
                int r = is_conflicting(src[i]) ? 0 : push_checked(args, what, src[i], err);

                if (r < 0)
                        return r;
        }
        return 0;
}

int art_live_kernel_args(const struct art_live_boot *b, char ***ret, struct pxf_error *err)
{
        _cleanup_strv_free_ char **args = pxf_calloc(1, sizeof(char *));
        _cleanup_free_ char *extra_name = NULL;
        int r = check_boot(b, err);

        if (r < 0)
                return r;
        r = push_unless_conflicting(&args, "the image's kernel command line", b->base_args, err);
        if (r >= 0)
                r = push_unless_conflicting(&args, "os.kernelCommandLine.extraCommandLine",
                                            b->os_args, err);
        if (r < 0)
                return r;
        r = mode_args(b, &args, err);
        if (r < 0)
                return r;
        extra_name = pxf_asprintf("%s.kernelCommandLine.extraCommandLine", section(b));
        for (size_t i = 0; b->extra_args && b->extra_args[i]; i++) {
                r = push_checked(&args, extra_name, b->extra_args[i], err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(args);
        return 0;
}

/* ---- the bootstrap ISO's URL -------------------------------------------------------- */

/* The ISO is written into the artifacts folder under this name and fetched by it. */
static bool iso_name_safe(const char *name)
{
        if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || name[0] == '-')
                return false;
        for (const char *p = name; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("/\\%", *p))
                        return false;
        return true;
}

static int url_from_file_url(const char *url, char **ret_url, char **ret_name,
                             struct pxf_error *err)
{
        const char *sep = strstr(url, "://"), *host, *end, *slash;
        _cleanup_free_ char *name = NULL;

        if (!sep)
                return pxf_error_set(err, -EINVAL, "pxe.bootstrapFileUrl '%s' is not a URL", url);
        host = sep + 3;
        end = host + strcspn(host, "?#");
        slash = memrchr(host, '/', (size_t)(end - host));
        if (!slash || slash + 1 == end)
                return pxf_error_set(err, -EINVAL,
                                     "pxe.bootstrapFileUrl '%s' does not end in a file name", url);
        name = pxf_asprintf("%.*s", (int)(end - slash - 1), slash + 1);
        if (!iso_name_safe(name))
                return pxf_error_set(err, -EINVAL,
                                     "pxe.bootstrapFileUrl '%s': '%s' is not a safe file name for "
                                     "the ISO (it must not be '.' or '..', start with '-', or "
                                     "contain '/', '\\', '%%', spaces or control characters)",
                                     url, name);
        *ret_url = pxf_strdup(url);
        *ret_name = TAKE_PTR(name);
        return 0;
}

static int url_from_base(const char *what, const char *base, char **ret_url, char **ret_name,
                         struct pxf_error *err)
{
        const char *sep = strstr(base, "://");
        size_t len = strlen(base), min;

        if (!sep)
                return pxf_error_set(err, -EINVAL, "%s '%s' is not a URL", what, base);
        if (strpbrk(base, "?#"))
                return pxf_error_set(err, -EINVAL,
                                     "%s '%s' must not have a query or fragment (the ISO's file "
                                     "name is appended to it)",
                                     what, base);
        min = (size_t)(sep - base) + 3;
        while (len > min && base[len - 1] == '/')
                len--;
        if (len == min)
                return pxf_error_set(err, -EINVAL, "%s '%s' has no host", what, base);
        *ret_url = pxf_asprintf("%.*s/" ART_BOOTSTRAP_ISO, (int)len, base);
        *ret_name = pxf_strdup(ART_BOOTSTRAP_ISO);
        return 0;
}

int art_bootstrap_url(const struct cfg_pxe *pxe, const char *default_base_url, char **ret_url,
                      char **ret_iso_name, struct pxf_error *err)
{
        if (pxe->bootstrap_file_url)
                return url_from_file_url(pxe->bootstrap_file_url, ret_url, ret_iso_name, err);
        if (pxe->bootstrap_base_url)
                return url_from_base("pxe.bootstrapBaseUrl", pxe->bootstrap_base_url, ret_url,
                                     ret_iso_name, err);
        if (default_base_url)
                return url_from_base("the default bootstrap base URL", default_base_url, ret_url,
                                     ret_iso_name, err);
        return pxf_error_set(err, -EINVAL,
                             "pxe.initramfsType is bootstrap but neither pxe.bootstrapBaseUrl nor "
                             "pxe.bootstrapFileUrl is set; set one of them");
}

/* ---- ISO volume label --------------------------------------------------------------- */

#define LABEL_PREFIX   "PXF_"
#define LABEL_TAG_LEN  8
#define LABEL_HOST_MAX (ART_ISO_LABEL_MAX - (sizeof(LABEL_PREFIX) - 1) - 1 - LABEL_TAG_LEN)

static bool label_char(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool art_iso_volume_label_valid(const char *label)
{
        size_t n = label ? strlen(label) : 0;

        if (n == 0 || n > ART_ISO_LABEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!label_char(label[i]))
                        return false;
        return true;
}

char *art_iso_volume_label(const char *hostname_or_null, uint64_t unique)
{
        uint32_t tag = (uint32_t)(unique ^ (unique >> 32));
        char host[LABEL_HOST_MAX + 1];
        size_t n = 0;

        /* Upper case; anything else becomes one '_', none at either end. */
        for (const char *p = hostname_or_null; p && *p && n < LABEL_HOST_MAX; p++) {
                char c = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
                if (!label_char(c) || c == '_') {
                        if (n > 0 && host[n - 1] != '_')
                                host[n++] = '_';
                        continue;
                }
                host[n++] = c;
        }
        while (n > 0 && host[n - 1] == '_')
                n--;
        host[n] = '\0';
        if (n == 0)
                return pxf_asprintf(LABEL_PREFIX "%08" PRIX32, tag);
        return pxf_asprintf(LABEL_PREFIX "%s_%08" PRIX32, host, tag);
}

/* ---- dracut version ----------------------------------------------------------------- */

int art_dracut_major_version(const char *version_string, int *ret)
{
        const char *p = version_string, *digits_end;
        unsigned long v = 0;

        if (!p)
                return -EINVAL;
        p += strspn(p, " \t");
        /* A Debian epoch ("1:059-4") comes before the version. */
        digits_end = p + strspn(p, "0123456789");
        if (digits_end > p && *digits_end == ':')
                p = digits_end + 1;
        digits_end = p + strspn(p, "0123456789");
        if (digits_end == p || digits_end - p > 6)
                return -EINVAL;
        for (const char *d = p; d < digits_end; d++)
                v = v * 10 + (unsigned long)(*d - '0');
        if (v == 0 || (*digits_end && !strchr("-.+~_ \t\n", *digits_end)))
                return -EINVAL;
        *ret = (int)v;
        return 0;
}
