/* GRUB for BIOS (server.bios), made with grub-mkimage with every module it needs built
 * in, so that it loads none:
 *   - for PXE clients: core.0, an i386-pc network image that a PXE ROM loads over TFTP;
 *     it fetches grub/grub.cfg (the one the UEFI GRUB reads) and what that names;
 *   - for the ISOs: an El Torito image that reads the ISO's boot/grub/grub.cfg, and the
 *     MBR boot code (boot_hybrid.img) that loads it from a USB stick.
 * Made with the image's own grub-mkimage and modules (grub-pc-bin), in the container on
 * the tree, so that it is the image's GRUB; else with this host's. grub-mkimage writes to
 * a pipe: nothing it writes is read back from the tree. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "artifacts/loaders-internal.h"

#define MODULE_DIR "usr/lib/grub/i386-pc"
#define MKIMAGE    "usr/bin/grub-mkimage"
#define MBR        "boot_hybrid.img"
#define MBR_MAX    4096
#define PACKAGE    "grub-pc-bin"

struct bios_kind {
        const char *format, *prefix;
        const char *const *modules; /* NULL-terminated */
        bool mbr;                   /* GRUB's MBR code goes with it */
};

/* What each runs grub.cfg with: how it reaches its files, the commands grub.cfg uses,
 * and the Linux loader. */
static const char *const pxe_modules[] = {
    "pxe",  "net",  "tftp",   "normal",   "configfile", "linux",
    "boot", "echo", "serial", "terminal", "test",       NULL,
};
static const char *const cd_modules[] = {
    "biosdisk",   "iso9660", "part_msdos",   "part_gpt", "normal",
    "configfile", "search",  "search_label", "linux",    "boot",
    "echo",       "serial",  "terminal",     "test",     NULL,
};
static const struct bios_kind kinds[] = {
    [ART_BIOS_GRUB_PXE] = {"i386-pc-pxe", "(pxe)/grub", pxe_modules, false},
    [ART_BIOS_GRUB_CD] = {"i386-pc-eltorito", "/boot/grub", cd_modules, true},
};
/* GRUB's HTTP client (every i386-pc GRUB since 2.00 has one), for PXE: grub.cfg then
 * loads kernel and initramfs over HTTP. */
#define OPTIONAL_PXE_MODULE "http"

/* The lists GRUB's normal mode reads from its prefix at start, to load modules on demand:
 * with every module built in there is nothing to list, and empty files beside core.0
 * spare the TFTP log a "file not found" for each. */
static const char *const module_lists[] = {"command.lst", "fs.lst", "crypto.lst", "terminal.lst"};

/* Whether root (the tree, or "/" for this host) has the file, without leaving it. */
static bool has_file(const char *root, const char *path)
{
        struct stat st;
        int fd = pxf_open_beneath(root, path, &st);

        if (fd < 0)
                return false;
        (void)close(fd);
        return true;
}

static bool has_module(const char *root, const char *name)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s.mod", MODULE_DIR, name);

        return has_file(root, path);
}

static bool has_bios_grub(const char *root, const struct bios_kind *k)
{
        for (const char *const *m = k->modules; *m; m++)
                if (!has_module(root, *m))
                        return false;
        if (k->mbr && !has_file(root, MODULE_DIR "/" MBR))
                return false;
        return has_file(root, MKIMAGE);
}

/* grub-mkimage's command line for the modules of root; it writes the image to stdout. */
static char **mkimage_argv(const char *root, const struct bios_kind *k)
{
        char **argv = NULL;

        pxf_strv_push(&argv, "grub-mkimage");
        pxf_strv_push(&argv, "--directory");
        pxf_strv_push(&argv, "/" MODULE_DIR);
        pxf_strv_push(&argv, "--format");
        pxf_strv_push(&argv, k->format);
        pxf_strv_push(&argv, "--prefix");
        pxf_strv_push(&argv, k->prefix);
        for (const char *const *m = k->modules; *m; m++)
                pxf_strv_push(&argv, *m);
        if (k == &kinds[ART_BIOS_GRUB_PXE] && has_module(root, OPTIONAL_PXE_MODULE))
                pxf_strv_push(&argv, OPTIONAL_PXE_MODULE);
        return argv;
}

/* GRUB's MBR code from root (the tree or "/"), to out. */
static int copy_mbr(const char *root, const char *out, struct pxf_error *err)
{
        char buf[MBR_MAX];
        struct stat st;
        _cleanup_close_ int fd = pxf_open_beneath(root, MODULE_DIR "/" MBR, &st);
        ssize_t n = fd < 0 ? fd : read(fd, buf, sizeof buf);

        if (n < 0 && fd >= 0)
                n = -errno;
        if (n <= 0 || n == (ssize_t)sizeof buf)
                return pxf_error_set(err, n < 0 ? (int)n : -EINVAL,
                                     "cannot read GRUB's %s in '%s': %s", MBR, root,
                                     n < 0 ? strerror((int)-n) : "empty or too large");
        return pxf_write_file_atomic(out, buf, (size_t)n, 0644, err);
}

static int write_module_lists(const char *core, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_dirname(core);
        int r = 0;

        for (size_t i = 0; r >= 0 && i < PXF_ELEMENTSOF(module_lists); i++) {
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, module_lists[i]);
                r = pxf_write_file_atomic(path, "", 0, 0644, err);
        }
        return r;
}

typedef void host_file_fn(const char *name, const char *path, void *userdata);

/* This host's file, named by its path: an ingredient, not a file of the folder. */
static void host_file(const char *rel, host_file_fn *fn, void *userdata)
{
        _cleanup_free_ char *path = pxf_asprintf("/%s", rel);

        if (access(path, R_OK) == 0)
                fn(path, path, userdata);
}

void art_bios_grub_host_files(host_file_fn *fn, void *userdata)
{
        static const char *const images[] = {"kernel.img", "pxeboot.img", "cdboot.img",
                                             "moddep.lst", MBR};

        host_file(MKIMAGE, fn, userdata);
        for (size_t i = 0; i < PXF_ELEMENTSOF(images); i++) {
                _cleanup_free_ char *rel = pxf_asprintf("%s/%s", MODULE_DIR, images[i]);
                host_file(rel, fn, userdata);
        }
        for (size_t k = 0; k < PXF_ELEMENTSOF(kinds); k++)
                for (const char *const *m = kinds[k].modules; *m; m++) {
                        _cleanup_free_ char *rel = pxf_asprintf("%s/%s.mod", MODULE_DIR, *m);
                        host_file(rel, fn, userdata);
                }
        host_file(MODULE_DIR "/" OPTIONAL_PXE_MODULE ".mod", fn, userdata);
}

/* grub-mkimage of root (the tree, in the container, or "/") writes the image to out. */
static int run_mkimage(const char *tree, bool from_image, const struct bios_kind *k,
                       const char *out, struct pxf_error *err)
{
        _cleanup_strv_free_ char **argv = mkimage_argv(from_image ? tree : "/", k);
        _cleanup_free_ char *partial = NULL;
        struct pxf_spawn_opts opts = {.container_root = from_image ? tree : NULL};
        int fd, r;

        fd = r = pxf_open_partial(out, 0644, &partial, err);
        if (fd < 0)
                return r;
        opts.stdout_fd = fd;
        r = pxf_spawn_run((const char *const *)argv, &opts, err);
        if (r < 0)
                pxf_error_prefix(err, "making GRUB for BIOS with %s grub-mkimage",
                                 from_image ? "the image's" : "this host's");
        return pxf_finish_partial(fd, partial, out, r, err);
}

int art_bios_grub(const struct art_bios_grub_request *req, enum art_bios_grub_source *ret_source,
                  struct pxf_error *err)
{
        const struct bios_kind *k = &kinds[req->kind];
        bool from_image = has_bios_grub(req->tree, k);
        int r;

        if (!from_image && !has_bios_grub("/", k))
                return pxf_error_set(err, -ENOENT,
                                     "server.bios needs GRUB for BIOS (grub-mkimage and %s), in "
                                     "neither the image nor this host: install the package %s "
                                     "in the image (os.packages.install) or on this host",
                                     "/" MODULE_DIR, PACKAGE);
        r = run_mkimage(req->tree, from_image, k, req->out, err);
        if (r >= 0 && k->mbr)
                r = copy_mbr(from_image ? req->tree : "/", req->mbr_out, err);
        if (r >= 0 && req->kind == ART_BIOS_GRUB_PXE)
                r = write_module_lists(req->out, err);
        if (r >= 0)
                *ret_source = from_image ? ART_BIOS_GRUB_IMAGE : ART_BIOS_GRUB_HOST;
        return r;
}
