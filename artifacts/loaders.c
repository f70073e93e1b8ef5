/* What a PXE folder carries besides the image's shim and GRUB, and what its boot chain can
 * do (see loaders-internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts/artifacts.h"
#include "artifacts/loaders-internal.h"

#define PE_HEADER_MAX   (64u * 1024)
#define PE32_MAGIC      0x10b
#define PE32PLUS_MAGIC  0x20b
#define PE_DIR_SECURITY 4
#define WIN_CERT_PKCS7  0x0002
#define GRUB_SIZE_MAX   (64u * 1024 * 1024)
/* What GRUB's http module sends; no other part of GRUB has it. */
#define GRUB_HTTP_MARKER " HTTP/1.1"

const struct art_ipxe_file art_ipxe_files[] = {
    {"snponly.efi", ART_IPXE_UEFI},
    {"undionly.kpxe", ART_IPXE_BIOS},
};
const size_t art_ipxe_n_files = PXF_ELEMENTSOF(art_ipxe_files);

static uint16_t le16(const unsigned char *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
        return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

/* The security directory (file offset and size) of a PE image: where Authenticode puts its
 * WIN_CERTIFICATE. -EINVAL for a file that is not PE. */
static int pe_security_dir(int fd, uint32_t *ret_off, uint32_t *ret_size)
{
        unsigned char dos[64], nt[24], opt[2], dir[8];
        uint32_t pe, n_dirs_at, dirs_at;

        if (!read_at(fd, dos, sizeof dos, 0) || dos[0] != 'M' || dos[1] != 'Z')
                return -EINVAL;
        pe = le32(dos + 0x3c);
        if (pe > PE_HEADER_MAX || !read_at(fd, nt, sizeof nt, pe) || memcmp(nt, "PE\0\0", 4) != 0 ||
            !read_at(fd, opt, sizeof opt, pe + 24))
                return -EINVAL;
        switch (le16(opt)) {
        case PE32_MAGIC:
                n_dirs_at = pe + 24 + 92;
                break;
        case PE32PLUS_MAGIC:
                n_dirs_at = pe + 24 + 108;
                break;
        default:
                return -EINVAL;
        }
        dirs_at = n_dirs_at + 4;
        if (!read_at(fd, dir, 4, n_dirs_at))
                return -EINVAL;
        if (le32(dir) <= PE_DIR_SECURITY) {
                *ret_off = *ret_size = 0;
                return 0;
        }
        if (le16(nt + 20) < dirs_at - (pe + 24) + 8 * (PE_DIR_SECURITY + 1) ||
            !read_at(fd, dir, sizeof dir, dirs_at + 8 * PE_DIR_SECURITY))
                return -EINVAL;
        *ret_off = le32(dir);
        *ret_size = le32(dir + 4);
        return 0;
}

int art_pe_signed(const char *path, bool *ret, struct pxf_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        unsigned char cert[8];
        uint32_t off = 0, size = 0;
        int r;

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", path);
        r = pe_security_dir(fd, &off, &size);
        if (r < 0)
                return pxf_error_set(err, r, "'%s' is not an EFI (PE) executable", path);
        /* WIN_CERTIFICATE: dwLength, wRevision, wCertificateType (PKCS#7 signed data). */
        *ret = off && size >= sizeof cert && read_at(fd, cert, sizeof cert, off) &&
               le32(cert) >= sizeof cert && le16(cert + 6) == WIN_CERT_PKCS7;
        return 0;
}

int art_grub_has_http(const char *path, bool *ret, struct pxf_error *err)
{
        static const char marker[] = GRUB_HTTP_MARKER;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = pxf_read_file(path, GRUB_SIZE_MAX, &data, &len);

        if (r < 0)
                return pxf_error_set(err, r, "cannot read '%s': %s", path, strerror(-r));
        *ret = memmem(data, len, marker, sizeof marker - 1) != NULL;
        return 0;
}

bool art_ipxe_wanted(const struct cfg_config *cfg)
{
        return cfg->server.ipxe == CFG_IPXE_FALLBACK || cfg->server.ipxe == CFG_IPXE_ALWAYS;
}

void art_host_files(const struct cfg_config *cfg,
                    void (*fn)(const char *name, const char *path, void *userdata), void *userdata)
{
        if (cfg->server.bios)
                art_bios_grub_host_files(fn, userdata);
        if (!art_ipxe_wanted(cfg))
                return;
        for (size_t i = 0; i < art_ipxe_n_files; i++) {
                _cleanup_free_ char *path =
                    pxf_asprintf("%s/%s", ART_IPXE_HOST_DIR, art_ipxe_files[i].name);
                if (access(path, R_OK) == 0)
                        fn(art_ipxe_files[i].path, path, userdata);
        }
}

int art_ipxe_check(const char *dir, struct pxf_error *err)
{
        for (size_t i = 0; i < art_ipxe_n_files; i++) {
                _cleanup_free_ char *src = pxf_asprintf("%s/%s", dir, art_ipxe_files[i].name);
                if (access(src, R_OK) < 0)
                        return pxf_error_set(err, -ENOENT,
                                             "server.ipxe needs iPXE on this host, and %s is "
                                             "missing: install the Debian package ipxe",
                                             src);
        }
        return 0;
}
