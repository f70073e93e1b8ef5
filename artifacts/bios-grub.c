/* GRUB for BIOS PXE clients (server.bios): one i386-pc network image, core.0, that a PXE
 * ROM loads over TFTP. Every module it needs is built in, so it fetches nothing but
 * grub/grub.cfg (the one the UEFI GRUB reads) and what that names. Made with the image's
 * own grub-mkimage and modules (grub-pc-bin), in the container on the tree, so that it is
 * the image's GRUB; else with this host's. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "artifacts/loaders-internal.h"

#define MODULE_DIR "usr/lib/grub/i386-pc"
#define MKIMAGE    "usr/bin/grub-mkimage"
#define PREFIX     "(pxe)/grub" /* grub.cfg, where the UEFI GRUB reads it too */
#define PACKAGE    "grub-pc-bin"

/* What core.0 runs grub.cfg with: the PXE ROM's network, TFTP, the commands grub.cfg
 * uses, and the Linux loader. */
static const char *const required_modules[] = {
    "pxe",  "net",  "tftp",   "normal",   "configfile", "linux",
    "boot", "echo", "serial", "terminal", "test",
};
/* GRUB's HTTP client (every i386-pc GRUB since 2.00 has one): grub.cfg then loads kernel
 * and initramfs over HTTP. */
static const char *const optional_modules[] = {"http"};

/* The lists GRUB's normal mode reads from its prefix at start, to load modules on demand:
 * with every module built in there is nothing to list, and empty files spare the log a
 * "file not found" for each. */
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

static bool has_bios_grub(const char *root)
{
        for (size_t i = 0; i < PXF_ELEMENTSOF(required_modules); i++)
                if (!has_module(root, required_modules[i]))
                        return false;
        return has_file(root, MKIMAGE);
}

/* grub-mkimage's command line for the modules of root; it writes core.0 to stdout. */
static const char **mkimage_argv(const char *root)
{
        static const char *const head[] = {"grub-mkimage", "--directory", "/" MODULE_DIR,
                                           "--format",     "i386-pc-pxe", "--prefix",
                                           PREFIX};
        size_t n = 0, max = PXF_ELEMENTSOF(head) + PXF_ELEMENTSOF(required_modules) +
                            PXF_ELEMENTSOF(optional_modules) + 1;
        const char **argv = pxf_calloc(max, sizeof *argv);

        for (size_t i = 0; i < PXF_ELEMENTSOF(head); i++)
                argv[n++] = head[i];
        for (size_t i = 0; i < PXF_ELEMENTSOF(required_modules); i++)
                argv[n++] = required_modules[i];
        for (size_t i = 0; i < PXF_ELEMENTSOF(optional_modules); i++)
                if (has_module(root, optional_modules[i]))
                        argv[n++] = optional_modules[i];
        return argv;
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

/* Each of the host's MODULE_DIR/NAME<suffix> that exists, named by its path: it is an
 * ingredient, not a file of the folder. */
static void host_files(const char *const *names, size_t n, const char *suffix, host_file_fn *fn,
                       void *userdata)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = pxf_asprintf("/%s/%s%s", MODULE_DIR, names[i], suffix);
                if (access(path, R_OK) == 0)
                        fn(path, path, userdata);
        }
}

void art_bios_grub_host_files(host_file_fn *fn, void *userdata)
{
        static const char *const images[] = {"kernel.img", "pxeboot.img", "moddep.lst"};

        if (access("/" MKIMAGE, R_OK) == 0)
                fn("/" MKIMAGE, "/" MKIMAGE, userdata);
        host_files(images, PXF_ELEMENTSOF(images), "", fn, userdata);
        host_files(required_modules, PXF_ELEMENTSOF(required_modules), ".mod", fn, userdata);
        host_files(optional_modules, PXF_ELEMENTSOF(optional_modules), ".mod", fn, userdata);
}

int art_bios_grub(const char *tree, const char *out, enum art_bios_grub_source *ret_source,
                  struct pxf_error *err)
{
        bool from_image = has_bios_grub(tree);
        const char *root = from_image ? tree : "/";
        _cleanup_free_ const char **argv = NULL;
        _cleanup_free_ char *partial = NULL;
        struct pxf_spawn_opts opts = {.container_root = from_image ? tree : NULL};
        int fd, r;

        if (!from_image && !has_bios_grub("/"))
                return pxf_error_set(err, -ENOENT,
                                     "server.bios needs GRUB for BIOS (grub-mkimage and %s), in "
                                     "neither the image nor this host: install the package %s "
                                     "in the image (os.packages.install) or on this host",
                                     "/" MODULE_DIR, PACKAGE);
        argv = mkimage_argv(root);
        fd = r = pxf_open_partial(out, 0644, &partial, err);
        if (fd < 0)
                return r;
        opts.stdout_fd = fd;
        r = pxf_spawn_run(argv, &opts, err);
        if (r < 0)
                pxf_error_prefix(err, "making GRUB for BIOS with %s grub-mkimage",
                                 from_image ? "the image's" : "this host's");
        r = pxf_finish_partial(fd, partial, out, r, err);
        if (r >= 0)
                r = write_module_lists(out, err);
        if (r >= 0)
                *ret_source = from_image ? ART_BIOS_GRUB_IMAGE : ART_BIOS_GRUB_HOST;
        return r;
}
