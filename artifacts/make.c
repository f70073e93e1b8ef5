/* Live outputs made from an exported tree (see artifacts.h): the boot chain and kernel
 * found in the tree, the initramfs, grub.cfg, the ISO, the manifest, staged and then
 * published by rename. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "artifacts/artifacts.h"
#include "artifacts/folder-internal.h"
#include "artifacts/iso-internal.h"
#include "artifacts/live-internal.h"
#include "artifacts/loaders-internal.h"
#include "cache/cache.h"

#define SMALL_FILE_MAX (1024u * 1024)

/* The signed boot chain of one family of images: where its packages put shim, the GRUB
 * that boots from the network, the GRUB for CDs and MokManager, and the packages to name
 * when one is missing. */
struct boot_chain {
        enum art_grub_flavor flavor;
        const char *shim, *shim_package;
        const char *net_grub, *grub_package;
        const char *cd_grubs[3];   /* the first one present boots the ISO */
        const char *mokmanager;    /* optional */
        const char *disk_grub_cfg; /* the installed system's, for its kernel arguments */
        const char *iso_grub_cfg;  /* where the CD GRUB reads its configuration */
};

static const struct boot_chain debian_chain = {
    .flavor = ART_GRUB_DEBIAN,
    .shim = "usr/lib/shim/shimx64.efi.signed",
    .shim_package = "shim-signed",
    .net_grub = "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
    .grub_package = "grub-efi-amd64-signed",
    /* Debian's CD build, else the installed-system build, which finds the ISO through
     * /.disk/info just the same (see iso.c). */
    .cd_grubs = {"usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed",
                 "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"},
    .mokmanager = "usr/lib/shim/mmx64.efi.signed",
    .disk_grub_cfg = "boot/grub/grub.cfg",
    .iso_grub_cfg = "boot/grub/grub.cfg",
};

/* Azure Linux (and Mariner) install their signed binaries on the ESP only; the one GRUB
 * serves disk, network and CD, with its prefix at /boot/grub2. */
static const struct boot_chain azure_chain = {
    .flavor = ART_GRUB_AZURE,
    .shim = "boot/efi/EFI/BOOT/bootx64.efi",
    .shim_package = "shim",
    .net_grub = "boot/efi/EFI/BOOT/grubx64.efi",
    .grub_package = "grub2-efi-binary",
    .cd_grubs = {"boot/efi/EFI/BOOT/grubx64.efi"},
    .mokmanager = "boot/efi/EFI/BOOT/mmx64.efi",
    .disk_grub_cfg = "boot/grub2/grub.cfg",
    .iso_grub_cfg = "boot/grub2/grub.cfg",
};

struct live {
        const struct art_request *job;
        char *stage; /* the artifacts being made */
        char *kver;
        char **base_args;
        char **os_args; /* see struct art_live_boot */
        const struct boot_chain *chain;
        bool grub_http;       /* the network GRUB has an HTTP client */
        const char *bios;     /* the manifest's bios line: NULL without server.bios */
        char *unsigned_files; /* of the PXE boot chain, for Secure Boot; NULL: all signed */
        char *iso;            /* a bootstrap's image.iso in the stage */
};

static int make_dir(const char *path, struct pxf_error *err)
{
        int r = pxf_mkdir_p(path, 0755);

        return r < 0 ? pxf_error_set(err, r, "cannot create '%s': %s", path, strerror(-r)) : 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_dirname(dst);
        int r = make_dir(dir, err);

        if (r >= 0)
                r = pxf_spawn_run((const char *[]){"cp", "--no-preserve=all", "--", src, dst, NULL},
                                  NULL, err);
        if (r >= 0 && chmod(dst, mode) < 0)
                r = pxf_error_set(err, -errno, "cannot set the mode of '%s': %m", dst);
        return r;
}

static int cmp_version(const void *a, const void *b)
{
        return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* The newest kernel in the tree's /boot: the one the artifacts boot. */
static int find_kernel(struct live *l, struct pxf_error *err)
{
        _cleanup_free_ char *boot = pxf_asprintf("%s/boot", l->job->tree);
        _cleanup_strv_free_ char **versions = NULL;
        DIR *d = opendir(boot);
        struct dirent *de;
        size_t n;

        if (!d)
                return pxf_error_set(err, -ENOENT, "the image has no /boot");
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "vmlinuz-", 8) == 0 && de->d_name[8])
                        pxf_strv_push(&versions, de->d_name + 8);
        (void)closedir(d);
        n = pxf_strv_length(versions);
        if (n == 0)
                return pxf_error_set(err, -ENOENT,
                                     "the image has no kernel in /boot (install "
                                     "linux-image-amd64)");
        qsort(versions, n, sizeof(char *), cmp_version);
        l->kver = pxf_strdup(versions[n - 1]);
        log_info("  kernel %s%s", l->kver, n > 1 ? " (the newest of several)" : "");
        return 0;
}

static char *tree_path(const struct live *l, const char *rel)
{
        return pxf_asprintf("%s/%s", l->job->tree, rel);
}

static char *stage_path(const struct live *l, const char *rel)
{
        return pxf_asprintf("%s/%s", l->stage, rel);
}

/* Debian-family trees carry /etc/debian_version; the others are taken for Azure Linux. */
static void pick_boot_chain(struct live *l)
{
        _cleanup_free_ char *deb = tree_path(l, "etc/debian_version");

        l->chain = access(deb, F_OK) == 0 ? &debian_chain : &azure_chain;
}

static int need_file(const struct live *l, const char *rel, const char *package,
                     struct pxf_error *err)
{
        _cleanup_free_ char *path = tree_path(l, rel);

        if (access(path, R_OK) == 0)
                return 0;
        return pxf_error_set(err, -ENOENT, "the image has no /%s: add '%s' to os.packages.install",
                             rel, package);
}

/* shim as bootx64.efi (the name UEFI PXE firmware asks for), the network GRUB beside it as
 * grubx64.efi (the name shim loads), MokManager if present. */
static int copy_boot_files(struct live *l, struct pxf_error *err)
{
        const struct boot_chain *c = l->chain;
        _cleanup_free_ char *shim = tree_path(l, c->shim), *grub = tree_path(l, c->net_grub);
        _cleanup_free_ char *mm = tree_path(l, c->mokmanager);
        _cleanup_free_ char *shim_dst = stage_path(l, "bootx64.efi");
        _cleanup_free_ char *grub_dst = stage_path(l, "grubx64.efi");
        _cleanup_free_ char *mm_dst = stage_path(l, "mmx64.efi");
        int r = need_file(l, c->shim, c->shim_package, err);

        if (r >= 0)
                r = need_file(l, c->net_grub, c->grub_package, err);
        if (r >= 0)
                r = copy_file(shim, shim_dst, 0644, err);
        if (r >= 0)
                r = copy_file(grub, grub_dst, 0644, err);
        if (r >= 0 && access(mm, R_OK) == 0)
                r = copy_file(mm, mm_dst, 0644, err);
        return r;
}

static int copy_kernel(struct live *l, struct pxf_error *err)
{
        _cleanup_free_ char *rel = pxf_asprintf("boot/vmlinuz-%s", l->kver);
        _cleanup_free_ char *src = tree_path(l, rel), *dst = stage_path(l, "vmlinuz");

        return copy_file(src, dst, 0644, err);
}

/* The image's own kernel arguments, from the first `linux` line of its grub.cfg
 * (BOOT_IMAGE and the kernel path dropped). The boot-configuration code removes what
 * conflicts with a live boot. */
static int read_base_args(struct live *l, struct pxf_error *err)
{
        _cleanup_free_ char *path = tree_path(l, l->chain->disk_grub_cfg), *text = NULL;
        char *line, *save = NULL, *tok;
        int r = pxf_read_file(path, SMALL_FILE_MAX, &text, NULL);

        (void)err;
        if (r < 0)
                return 0; /* no GRUB config: no base arguments */
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                line += strspn(line, " \t");
                if (strncmp(line, "linux", 5) == 0 && (line[5] == ' ' || line[5] == '\t'))
                        break;
        }
        if (!line)
                return 0;
        (void)strtok_r(line, " \t", &save); /* "linux" */
        (void)strtok_r(NULL, " \t", &save); /* the kernel path */
        while ((tok = strtok_r(NULL, " \t", &save)))
                if (strncmp(tok, "BOOT_IMAGE=", 11) != 0 && !strchr(tok, '$'))
                        pxf_strv_push(&l->base_args, tok);
        return 0;
}

static int kernel_compression(struct live *l, bool smallest, enum art_cpio_compression *ret,
                              struct pxf_error *err)
{
        _cleanup_free_ char *rel = pxf_asprintf("boot/config-%s", l->kver);
        _cleanup_free_ char *path = tree_path(l, rel), *text = NULL;
        int r = pxf_read_file(path, 4 * SMALL_FILE_MAX, &text, NULL);

        if (r < 0) {
                log_warning("the image has no /%s; compressing the initramfs with gzip", rel);
                *ret = ART_CPIO_GZIP;
                return 0;
        }
        r = art_kernel_cpio_compression(text, smallest, ret);
        return r < 0
                   ? pxf_error_set(err, r, "the kernel %s unpacks no compressed initramfs", l->kver)
                   : 0;
}

/* One line per artifact a long step made: what, its size and how long it took. */
static int report_size(const struct live *l, const char *what, const char *path,
                       uint64_t start_usec)
{
        double secs = (double)(pxf_now_usec() - start_usec) / 1e6;
        struct stat st;

        if (stat(path, &st) < 0)
                return 0;
        log_info("  %s: %.1f MiB in %.1f s", what, (double)st.st_size / (1024.0 * 1024.0), secs);
        if (l->job->on_artifact)
                l->job->on_artifact(what, (uint64_t)st.st_size, secs, l->job->userdata);
        return 0;
}

/* What makes a product of the tree at out; arg is the maker's own. */
typedef int product_fn(struct live *l, const char *out, const void *arg, struct pxf_error *err);

static void cache_warning(const char *what, const char *doing, const struct pxf_error *e)
{
        log_warning("  %s: %s the cache failed: %s", what, doing, e->msg);
}

/* A product that takes long, made by make() at out, or taken from the cache when the same
 * tree made it with the same params before (then logged as "from the cache"). */
static int cached_product(struct live *l, const char *what, const char *params, product_fn *make,
                          const void *arg, const char *out, struct pxf_error *err)
{
        const struct art_request *req = l->job;
        struct pxf_error cache_err = {0};
        char key[CACHE_KEY_HEX + 1];
        struct cache_key *k;
        struct stat st;
        int r;

        if (!req->cache || !req->tree_key)
                return make(l, out, arg, err);
        k = cache_key_new(what);
        cache_key_add(k, "tree", req->tree_key);
        cache_key_add(k, "params", params);
        cache_key_finish(k, key);
        r = cache_fetch(req->cache, key, out, &cache_err);
        if (r == 1 && stat(out, &st) == 0) {
                log_info("  %s: %.1f MiB from the cache", what, (double)st.st_size / 1048576.0);
                if (req->on_artifact)
                        req->on_artifact(what, (uint64_t)st.st_size, 0, req->userdata);
                return 0;
        }
        if (r < 0)
                cache_warning(what, "reading", &cache_err);
        r = make(l, out, arg, err);
        if (r >= 0 && cache_store(req->cache, key, out, &cache_err) < 0)
                cache_warning(what, "keeping it in", &cache_err);
        return r;
}

/* What a live root leaves out of the tree. /boot and /etc/fstab describe a disk the
 * machine does not have. apt's package lists and caches (91 MiB unpacked in the Debian 13
 * bootstrap test's root, after its package step) are only a copy of the mirror's index,
 * held in the client's memory for nothing: `apt update` fetches them again, as in
 * Debian's container images. The folders stay, with lists/partial and the lock. */
static char **live_excludes(const struct live *l)
{
        static const char *const fixed[] = {"boot", "etc/fstab", "var/cache/apt/pkgcache.bin",
                                            "var/cache/apt/srcpkgcache.bin"};
        _cleanup_free_ char *lists = tree_path(l, "var/lib/apt/lists");
        char **v = pxf_calloc(1, sizeof(char *));
        DIR *d = opendir(lists);
        struct dirent *de;

        for (size_t i = 0; i < PXF_ELEMENTSOF(fixed); i++)
                pxf_strv_push(&v, fixed[i]);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *rel = NULL;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    strcmp(de->d_name, "partial") == 0 || strcmp(de->d_name, "lock") == 0)
                        continue;
                rel = pxf_asprintf("var/lib/apt/lists/%s", de->d_name);
                pxf_strv_push(&v, rel);
        }
        if (d)
                (void)closedir(d);
        return v;
}

/* The whole OS as the initramfs: systemd runs from it as PID 1 (/init). */
static int make_full_os_initrd(struct live *l, const char *out, const void *arg,
                               struct pxf_error *err)
{
        _cleanup_strv_free_ char **exclude = live_excludes(l);
        _cleanup_free_ char *init = tree_path(l, "init");
        uint64_t start = pxf_now_usec();
        enum art_cpio_compression comp;
        int r;

        if (access(init, F_OK) < 0 && symlink("/lib/systemd/systemd", init) < 0)
                return pxf_error_set(err, -errno, "cannot create /init: %m");
        r = kernel_compression(l, false, &comp, err);
        if (r >= 0)
                r = art_cpio_write(l->job->tree, (const char *const *)exclude, comp, 0, out, err);
        if (r >= 0)
                r = report_size(l, "full-OS initramfs", out, start);
        (void)arg;
        return r;
}

static int full_os_initrd(struct live *l, const char *out, struct pxf_error *err)
{
        return cached_product(l, "full-OS initramfs", "", make_full_os_initrd, NULL, out, err);
}

static int write_text(const char *path, const char *text, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_dirname(path);
        int r = pxf_mkdir_p(dir, 0755);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
        return pxf_write_file_atomic(path, text, strlen(text), 0644, err);
}

static int write_grub_cfg(struct live *l, const struct art_live_boot *b, struct pxf_error *err)
{
        _cleanup_free_ char *text = NULL;
        const char *const *paths = art_grub_cfg_paths(l->chain->flavor);
        int r = art_grub_cfg(b, &text, err);

        for (size_t i = 0; r >= 0 && paths[i]; i++) {
                _cleanup_free_ char *dst = stage_path(l, paths[i]);
                r = write_text(dst, text, err);
        }
        return r;
}

/* pxe.additionalFiles land in the artifacts folder, iso.additionalFiles in the ISO's file
 * tree, at their destinations below root. */
static int copy_additional(const char *root, const struct cfg_live *live, const char *section,
                           struct pxf_error *err)
{
        for (size_t i = 0; i < live->n_additional_files; i++) {
                const struct cfg_file *f = &live->additional_files[i];
                const char *rel = f->destination + strspn(f->destination, "/");
                _cleanup_free_ char *dst = pxf_asprintf("%s/%s", root, rel);
                mode_t mode = f->has_permissions ? f->permissions : 0644;
                int r = f->content ? write_text(dst, f->content, err)
                                   : copy_file(f->source, dst, mode, err);
                if (r >= 0 && chmod(dst, mode) < 0)
                        r = pxf_error_set(err, -errno, "cannot set the mode of '%s': %m", dst);
                if (r < 0)
                        return pxf_error_prefix(err, "%s.additionalFiles[%zu]", section, i);
        }
        return 0;
}

/* ---- bootstrap ------------------------------------------------------------------- */

struct bootstrap {
        char *url;      /* where machines download the ISO */
        char *iso_name; /* its file name in the artifacts folder */
        char *label;    /* the ISO's unique volume label */
        char *initrd;   /* the dracut initramfs, in the work dir */
        int dracut_major;
};

static void bootstrap_free(struct bootstrap *b)
{
        free(b->url);
        free(b->iso_name);
        free(b->label);
        free(b->initrd);
}

static uint64_t build_unique(void)
{
        uint64_t v = pxf_now_usec() ^ ((uint64_t)getpid() << 32);

        (void)getrandom(&v, sizeof v, GRND_NONBLOCK);
        return v;
}

static int bootstrap_prepare(struct live *l, struct bootstrap *b, struct pxf_error *err)
{
        int r = art_bootstrap_check(l->job->tree, &b->dracut_major, err);

        if (r >= 0)
                r = art_bootstrap_url(&l->job->cfg->pxe, l->job->default_bootstrap_base_url,
                                      &b->url, &b->iso_name, err);
        if (r < 0)
                return r;
        b->label = art_iso_volume_label(l->job->cfg->os.hostname, build_unique());
        b->initrd = pxf_asprintf("%s/bootstrap-initrd.img", l->job->work_dir);
        log_info("  dracut %d; the ISO will be fetched from %s", b->dracut_major, b->url);
        return 0;
}

/* iPXE from this host (server.ipxe) into ipxe/, for the clients serve hands it to. */
static int copy_ipxe(struct live *l, struct pxf_error *err)
{
        int r = 0;

        if (!art_ipxe_wanted(l->job->cfg))
                return 0;
        r = art_ipxe_check(ART_IPXE_HOST_DIR, err);
        for (size_t i = 0; r >= 0 && i < art_ipxe_n_files; i++) {
                _cleanup_free_ char *src =
                    pxf_asprintf("%s/%s", ART_IPXE_HOST_DIR, art_ipxe_files[i].name);
                _cleanup_free_ char *dst = stage_path(l, art_ipxe_files[i].path);
                r = copy_file(src, dst, 0644, err);
        }
        if (r >= 0)
                log_info("  iPXE from this host (%s) for %s clients", ART_IPXE_HOST_DIR,
                         l->job->cfg->server.ipxe == CFG_IPXE_ALWAYS ? "all"
                                                                     : "BIOS and HTTP-boot");
        return r;
}

/* GRUB for BIOS clients (server.bios), from the image's grub-pc-bin or this host's. */
static int make_bios_grub(struct live *l, struct pxf_error *err)
{
        _cleanup_free_ char *out = stage_path(l, ART_BIOS_GRUB), *dir = pxf_dirname(out);
        enum art_bios_grub_source source;
        int r;

        if (!l->job->cfg->server.bios)
                return 0;
        r = make_dir(dir, err);
        if (r < 0)
                return r;
        r = art_bios_grub(&(struct art_bios_grub_request){.tree = l->job->tree,
                                                          .kind = ART_BIOS_GRUB_PXE,
                                                          .out = out},
                          &source, err);
        if (r < 0)
                return r;
        l->bios = source == ART_BIOS_GRUB_IMAGE ? "grub from the image" : "grub from this host";
        log_info("  GRUB for BIOS clients (%s), made with %s grub-pc-bin", ART_BIOS_GRUB,
                 source == ART_BIOS_GRUB_IMAGE ? "the image's" : "this host's");
        return 0;
}

static int write_ipxe_script(struct live *l, const struct art_live_boot *b, struct pxf_error *err)
{
        _cleanup_free_ char *text = NULL, *dst = stage_path(l, ART_IPXE_SCRIPT);
        int r = art_ipxe_script(b, &text, err);

        return r < 0 ? r : write_text(dst, text, err);
}

/* What the staged chain can do: whether GRUB speaks HTTP (how HTTP-boot clients are
 * served), and which of shim, GRUB and kernel a Secure Boot machine would refuse for
 * want of a signature. With server.secureBoot an unsigned one fails the build. */
static int inspect_chain(struct live *l, struct pxf_error *err)
{
        static const char *const chain[] = {"bootx64.efi", "grubx64.efi", "vmlinuz"};
        _cleanup_free_ char *grub = stage_path(l, "grubx64.efi");
        int r = art_grub_has_http(grub, &l->grub_http, err);

        for (size_t i = 0; r >= 0 && i < PXF_ELEMENTSOF(chain); i++) {
                _cleanup_free_ char *path = stage_path(l, chain[i]);
                bool is_signed = false;
                r = art_pe_signed(path, &is_signed, err);
                if (r == -EINVAL) /* not an EFI executable (a kernel without the EFI stub) */
                        r = 0;
                if (r >= 0 && !is_signed) {
                        char *old = l->unsigned_files;
                        l->unsigned_files =
                            pxf_asprintf("%s%s%s", old ? old : "", old ? ", " : "", chain[i]);
                        free(old);
                }
        }
        if (r < 0 || !l->unsigned_files)
                return r;
        if (l->job->cfg->server.secure_boot)
                return pxf_error_set(err, -EPERM,
                                     "server.secureBoot: a Secure Boot machine would refuse this "
                                     "boot chain (no signature on %s): install the signed %s, %s "
                                     "and the distribution's signed kernel in the image, or set "
                                     "secureBoot: false",
                                     l->unsigned_files, l->chain->shim_package,
                                     l->chain->grub_package);
        log_warning("  Secure Boot machines cannot boot these artifacts: no signature on %s",
                    l->unsigned_files);
        return 0;
}

/* The least memory a machine boots the staged artifacts in, for the manifest and the log. */
static int min_memory(const struct live *l, unsigned *ret, struct pxf_error *err)
{
        _cleanup_free_ char *initrd = stage_path(l, "initrd.img");
        struct art_memory m;
        int r = art_min_memory(initrd, l->iso, &m, err);

        if (r < 0)
                return r;
        if (l->iso)
                log_info("  minimum memory: %u MiB (the initramfs unpacks to %u MiB, image.iso "
                         "takes %u MiB and stays in memory)",
                         m.min_mib, m.initrd_mib, m.iso_mib);
        else
                log_info("  minimum memory: %u MiB (the initramfs unpacks to %u MiB and stays "
                         "the root, a tmpfs that gets half the memory)",
                         m.min_mib, m.initrd_mib);
        *ret = m.min_mib;
        return 0;
}

static int write_manifest(struct live *l, const struct art_live_boot *b, struct pxf_error *err)
{
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *secure_boot = l->unsigned_files
                                               ? pxf_asprintf("unsigned: %s", l->unsigned_files)
                                               : pxf_strdup("signed");
        struct art_manifest_info info = {
            .kernel_version = l->kver,
            .initramfs_type = b->initramfs == CFG_INITRAMFS_BOOTSTRAP ? "bootstrap" : "full-os",
            .bootstrap_url = b->bootstrap_url,
            .ipxe = l->job->cfg->server.ipxe ? cfg_ipxe_mode_name(l->job->cfg->server.ipxe) : "off",
            .grub_http = l->grub_http ? "yes" : "no",
            .bios = l->bios ? l->bios : "none",
            .secure_boot = secure_boot,
        };
        int r = art_live_kernel_args(b, &args, err);

        if (r >= 0)
                r = min_memory(l, &info.min_memory_mib, err);
        info.kernel_args = args;
        return r < 0 ? r : art_manifest_write(l->stage, &info, err);
}

/* What both PXE modes stage around their initramfs; the manifest comes last so it covers
 * every file. */
static int finish_pxe(struct live *l, const struct art_live_boot *b, struct pxf_error *err)
{
        int r = copy_boot_files(l, err);

        if (r >= 0)
                r = copy_kernel(l, err);
        if (r >= 0)
                r = inspect_chain(l, err);
        if (r >= 0)
                r = write_grub_cfg(l, b, err);
        if (r >= 0)
                r = write_ipxe_script(l, b, err);
        if (r >= 0)
                r = copy_ipxe(l, err);
        if (r >= 0)
                r = copy_additional(l->stage, &l->job->cfg->pxe.live, "pxe", err);
        if (r >= 0)
                r = write_manifest(l, b, err);
        return r;
}

/* The PXE boot entry: kernel and initramfs at the TFTP root, pxe.kernelCommandLine. */
static struct art_live_boot pxe_boot(const struct live *l, enum cfg_initramfs_type type)
{
        return (struct art_live_boot){
            .initramfs = type,
            .medium = ART_LIVE_PXE,
            .kernel = "vmlinuz",
            .initrd = "initrd.img",
            .base_args = l->base_args,
            .os_args = l->os_args,
            .extra_args = l->job->cfg->pxe.live.extra_command_line,
            .title = l->job->cfg->os.hostname,
            .http_port =
                l->job->cfg->server.http_port ? (unsigned)l->job->cfg->server.http_port : 80u,
            .boot_report = l->job->cfg->server.boot_report,
        };
}

static int make_pxe_full_os(struct live *l, struct pxf_error *err)
{
        struct art_live_boot b = pxe_boot(l, CFG_INITRAMFS_FULL_OS);
        _cleanup_free_ char *initrd = stage_path(l, "initrd.img");
        int r = full_os_initrd(l, initrd, err);

        return r < 0 ? r : finish_pxe(l, &b, err);
}

/* The GRUB that boots the ISO: the chain's first CD GRUB the image has. */
static int iso_grub(const struct live *l, char **ret, struct pxf_error *err)
{
        const struct boot_chain *c = l->chain;

        for (size_t i = 0; i < PXF_ELEMENTSOF(c->cd_grubs) && c->cd_grubs[i]; i++) {
                char *path = tree_path(l, c->cd_grubs[i]);
                if (access(path, R_OK) == 0) {
                        *ret = path;
                        return 0;
                }
                free(path);
        }
        return need_file(l, c->cd_grubs[0], c->grub_package, err);
}

/* One live ISO: the bootstrap ISO of a PXE build, or the `iso` output. */
struct live_iso {
        const struct cfg_live *section; /* its kernel arguments and additional files */
        const char *section_name;       /* "pxe" or "iso", for messages */
        enum cfg_initramfs_type initramfs;
        const char *initrd; /* a bootstrap initramfs to copy in; NULL: full-os, made here */
        int dracut_major;
        const char *label;
        const char *dir; /* the staging folder, the ISO's file tree */
        const char *out; /* the ISO file */
};

/* The ISO's root file system: a bootstrap initramfs mounts LiveOS/squashfs.img; a full-OS
 * initramfs is the root itself. */
static int make_squashfs(struct live *l, const char *out, const void *arg, struct pxf_error *err)
{
        _cleanup_strv_free_ char **exclude = live_excludes(l);
        uint64_t start = pxf_now_usec();
        int r = art_squashfs_write(l->job->tree, (const char *const *)exclude, 0, out, err);

        (void)arg;
        return r < 0 ? r : report_size(l, "squashfs root", out, start);
}

static int stage_iso_root(struct live *l, const struct live_iso *iso, struct pxf_error *err)
{
        _cleanup_free_ char *i = pxf_asprintf("%s/initrd.img", iso->dir);
        _cleanup_free_ char *sq = pxf_asprintf("%s/LiveOS/squashfs.img", iso->dir);
        _cleanup_free_ char *sqdir = pxf_dirname(sq);
        int r;

        if (!iso->initrd)
                return full_os_initrd(l, i, err);
        r = copy_file(iso->initrd, i, 0644, err);
        if (r >= 0 && (r = pxf_mkdir_p(sqdir, 0755)) < 0)
                pxf_error_set(err, r, "cannot create '%s'", sqdir);
        if (r >= 0)
                r = cached_product(l, "squashfs root", "", make_squashfs, NULL, sq, err);
        return r;
}

/* Stages the live ISO's files: kernel, initramfs (and root), grub.cfg, additional files. */
static int stage_iso(struct live *l, const struct live_iso *iso, struct pxf_error *err)
{
        struct art_live_boot boot = {
            .initramfs = iso->initramfs,
            .medium = ART_LIVE_ISO,
            .kernel = "vmlinuz",
            .initrd = "initrd.img",
            .dracut_major = iso->dracut_major,
            .volume_label = iso->label,
            .base_args = l->base_args,
            .os_args = l->os_args,
            .extra_args = iso->section->extra_command_line,
            .title = l->job->cfg->os.hostname,
        };
        _cleanup_free_ char *rel = pxf_asprintf("boot/vmlinuz-%s", l->kver);
        _cleanup_free_ char *kernel = tree_path(l, rel), *text = NULL;
        _cleanup_free_ char *k = pxf_asprintf("%s/vmlinuz", iso->dir);
        _cleanup_free_ char *g = pxf_asprintf("%s/%s", iso->dir, l->chain->iso_grub_cfg);
        int r = copy_file(kernel, k, 0644, err);

        if (r >= 0)
                r = art_grub_cfg(&boot, &text, err);
        if (r >= 0)
                r = write_text(g, text, err);
        if (r >= 0)
                r = stage_iso_root(l, iso, err);
        /* iso.additionalFiles are part of the ISO; a PXE build's go to the folder. */
        if (r >= 0 && iso->section == &l->job->cfg->iso)
                r = copy_additional(iso->dir, iso->section, iso->section_name, err);
        return r;
}

/* GRUB for BIOS on an ISO (server.bios): its El Torito image and MBR code, in dir. */
static int iso_bios_grub(struct live *l, const char *dir, struct art_iso_spec *spec,
                         struct pxf_error *err)
{
        enum art_bios_grub_source source;
        struct art_bios_grub_request req = {.tree = l->job->tree,
                                            .kind = ART_BIOS_GRUB_CD,
                                            .out = spec->bios_image,
                                            .mbr_out = spec->bios_mbr};
        int r = make_dir(dir, err);

        if (r >= 0)
                r = art_bios_grub(&req, &source, err);
        if (r >= 0)
                log_info("  GRUB for BIOS on the ISO (CD and USB stick), made with %s grub-pc-bin",
                         source == ART_BIOS_GRUB_IMAGE ? "the image's" : "this host's");
        return r;
}

static int make_iso(struct live *l, const struct live_iso *iso, struct pxf_error *err)
{
        _cleanup_free_ char *shim = tree_path(l, l->chain->shim);
        _cleanup_free_ char *mm = tree_path(l, l->chain->mokmanager), *grub = NULL;
        _cleanup_free_ char *bios_dir = pxf_asprintf("%s/bios-grub", l->job->work_dir);
        _cleanup_free_ char *bios_image = pxf_asprintf("%s/bios.img", bios_dir);
        _cleanup_free_ char *bios_mbr = pxf_asprintf("%s/boot_hybrid.img", bios_dir);
        bool bios = l->job->cfg->server.bios;
        uint64_t start;
        struct art_iso_spec spec = {
            .staging_dir = iso->dir,
            .shim_path = shim,
            .mokmanager_path = access(mm, R_OK) == 0 ? mm : NULL,
            .volume_label = iso->label,
            .bios_image = bios ? bios_image : NULL,
            .bios_mbr = bios ? bios_mbr : NULL,
            .out_path = iso->out,
            .work_dir = l->job->work_dir,
        };
        int r = need_file(l, l->chain->shim, l->chain->shim_package, err);

        if (r >= 0)
                r = iso_grub(l, &grub, err);
        spec.grub_path = grub;
        if (r >= 0 && bios)
                r = iso_bios_grub(l, bios_dir, &spec, err);
        if (r >= 0)
                r = make_dir(iso->dir, err);
        if (r >= 0)
                r = stage_iso(l, iso, err);
        start = pxf_now_usec();
        if (r >= 0)
                r = art_iso_write(&spec, err);
        if (r >= 0)
                r = report_size(l, "live ISO", iso->out, start);
        if (bios)
                (void)pxf_rm_rf(bios_dir);
        return r;
}

/* The image's own dracut builds the bootstrap initramfs (bootstrap.c), at out. url: where
 * it fetches the ISO, NULL when it boots from the ISO itself. */
static int make_bootstrap_initrd(struct live *l, const char *out, const void *arg,
                                 struct pxf_error *err)
{
        uint64_t start = pxf_now_usec();
        struct art_bootstrap_initrd b = *(const struct art_bootstrap_initrd *)arg;
        /* The smallest: it is what every machine downloads over TFTP. */
        int r = kernel_compression(l, true, &b.compression, err);

        if (r >= 0)
                r = art_bootstrap_initrd(&b, out, err);
        return r < 0 ? r : report_size(l, "bootstrap initramfs", out, start);
}

static int bootstrap_initrd(struct live *l, int dracut_major, const char *url, const char *out,
                            struct pxf_error *err)
{
        struct art_bootstrap_initrd b = {
            .tree = l->job->tree,
            .kver = l->kver,
            .dracut_major = dracut_major,
            .with_nfs = url && strncmp(url, "nfs:", 4) == 0,
        };

        return cached_product(l, "bootstrap initramfs", b.with_nfs ? "nfs" : "",
                              make_bootstrap_initrd, &b, out, err);
}

static int make_pxe_bootstrap(struct live *l, struct pxf_error *err)
{
        struct bootstrap b = {0};
        struct art_live_boot boot = pxe_boot(l, CFG_INITRAMFS_BOOTSTRAP);
        _cleanup_free_ char *initrd = stage_path(l, "initrd.img"), *iso_out = NULL;
        _cleanup_free_ char *iso_dir = pxf_asprintf("%s/iso", l->job->work_dir);
        int r = bootstrap_prepare(l, &b, err);

        if (r >= 0)
                r = bootstrap_initrd(l, b.dracut_major, b.url, b.initrd, err);
        if (r >= 0) {
                struct live_iso iso = {
                    .section = &l->job->cfg->pxe.live,
                    .section_name = "pxe",
                    .initramfs = CFG_INITRAMFS_BOOTSTRAP,
                    .initrd = b.initrd,
                    .dracut_major = b.dracut_major,
                    .label = b.label,
                    .dir = iso_dir,
                    .out = iso_out = stage_path(l, b.iso_name),
                };
                r = make_iso(l, &iso, err);
        }
        l->iso = iso_out ? pxf_strdup(iso_out) : NULL;
        boot.dracut_major = b.dracut_major;
        boot.bootstrap_url = b.url;
        if (r >= 0)
                r = copy_file(b.initrd, initrd, 0644, err);
        if (r >= 0)
                r = finish_pxe(l, &boot, err);
        bootstrap_free(&b);
        return r;
}

/* The `iso` output: one live ISO written at the partial output path. */
static int make_iso_output(struct live *l, struct pxf_error *err)
{
        const struct cfg_live *section = &l->job->cfg->iso;
        _cleanup_free_ char *label = art_iso_volume_label(l->job->cfg->os.hostname, build_unique());
        _cleanup_free_ char *initrd = NULL;
        struct live_iso iso = {
            .section = section,
            .section_name = "iso",
            .initramfs = art_live_initramfs(l->job->cfg, CFG_FORMAT_ISO),
            .label = label,
            .dir = l->stage,
            .out = l->job->partial,
        };
        int r = 0;

        if (iso.initramfs == CFG_INITRAMFS_BOOTSTRAP) {
                initrd = pxf_asprintf("%s/bootstrap-initrd.img", l->job->work_dir);
                r = art_bootstrap_check(l->job->tree, &iso.dracut_major, err);
                if (r >= 0)
                        r = bootstrap_initrd(l, iso.dracut_major, NULL, initrd, err);
                iso.initrd = initrd;
        }
        return r < 0 ? r : make_iso(l, &iso, err);
}

enum cfg_initramfs_type art_live_initramfs(const struct cfg_config *cfg,
                                           enum cfg_image_format format)
{
        /* The reference tool's defaults: bootstrap for an ISO, full-os for PXE. */
        if (format == CFG_FORMAT_ISO)
                return cfg->iso.initramfs_type ? cfg->iso.initramfs_type : CFG_INITRAMFS_BOOTSTRAP;
        return cfg->pxe.live.initramfs_type ? cfg->pxe.live.initramfs_type : CFG_INITRAMFS_FULL_OS;
}

static enum cfg_initramfs_type pxe_initramfs(const struct cfg_config *cfg)
{
        return art_live_initramfs(cfg, CFG_FORMAT_PXE_DIR);
}

static int make_artifacts(struct live *l, struct pxf_error *err)
{
        int r = find_kernel(l, err);

        pick_boot_chain(l);
        /* The boot chain is checked before the long steps that need it. */
        if (r >= 0)
                r = need_file(l, l->chain->shim, l->chain->shim_package, err);
        if (r >= 0)
                r = need_file(l, l->chain->net_grub, l->chain->grub_package, err);
        if (r >= 0)
                r = read_base_args(l, err);
        /* the os section's arguments, which a live tree's grub.cfg lacks: it is never
         * rebuilt */
        l->os_args = cfg_os_kernel_args(&l->job->cfg->os);
        if (r < 0)
                return r;
        if (l->job->format == CFG_FORMAT_ISO)
                return make_iso_output(l, err);
        r = make_bios_grub(l, err); /* quick, and it may lack a package */
        if (r < 0)
                return r;
        if (pxe_initramfs(l->job->cfg) == CFG_INITRAMFS_BOOTSTRAP)
                return make_pxe_bootstrap(l, err);
        return make_pxe_full_os(l, err);
}

/* Replaces the output folder by the staged one; an existing output is moved aside first
 * and removed only once the new one is in place. */
static int publish_dir(const struct art_request *job, struct pxf_error *err)
{
        _cleanup_free_ char *old = pxf_asprintf("%s.pxeforge-old-%d", job->partial, (int)getpid());
        bool had_old = rename(job->output, old) == 0;

        if (!had_old && errno != ENOENT)
                return pxf_error_set(err, -errno, "cannot replace '%s': %m", job->output);
        if (rename(job->partial, job->output) < 0) {
                int r = pxf_error_set(err, -errno, "cannot move the artifacts to '%s': %m",
                                      job->output);
                if (had_old)
                        (void)rename(old, job->output);
                return r;
        }
        if (had_old)
                (void)pxf_rm_rf(old);
        return 0;
}

/* pxe-tar: the staged folder as one .tar.gz, written beside the output and renamed. */
static int publish_tar(const struct live *l, struct pxf_error *err)
{
        int r = art_tar_write(l->stage, 0, l->job->partial, err);

        if (r >= 0 && (r = pxf_publish_file(l->job->partial, l->job->output)) < 0)
                pxf_error_set(err, r, "cannot move the archive to '%s': %s", l->job->output,
                              strerror(-r));
        return r;
}

static int publish(const struct live *l, struct pxf_error *err)
{
        int r;

        if (l->job->format == CFG_FORMAT_PXE_TAR)
                return publish_tar(l, err);
        if (l->job->format == CFG_FORMAT_PXE_DIR)
                return publish_dir(l->job, err);
        r = pxf_publish_file(l->job->partial, l->job->output);
        return r < 0 ? pxf_error_set(err, r, "cannot move the ISO to '%s': %s", l->job->output,
                                     strerror(-r))
                     : 0;
}

/* Where a request is staged: a folder output beside its final path, so publishing is a
 * rename; the others in the work dir. */
static char *stage_of(const struct art_request *req)
{
        if (req->format == CFG_FORMAT_PXE_DIR)
                return pxf_strdup(req->partial);
        return pxf_asprintf("%s/%s", req->work_dir,
                            req->format == CFG_FORMAT_ISO ? "iso" : "artifacts");
}

int art_check(const struct art_request *req, struct pxf_error *err)
{
        _cleanup_free_ char *url = NULL, *name = NULL;

        if (req->format != CFG_FORMAT_PXE_DIR && req->format != CFG_FORMAT_PXE_TAR)
                return 0;
        /* The host's iPXE is copied in last: a missing package must not cost a build. */
        if (art_ipxe_wanted(req->cfg) && art_ipxe_check(ART_IPXE_HOST_DIR, err) < 0)
                return -ENOENT;
        if (pxe_initramfs(req->cfg) != CFG_INITRAMFS_BOOTSTRAP)
                return 0;
        return art_bootstrap_url(&req->cfg->pxe, req->default_bootstrap_base_url, &url, &name, err);
}

int art_make(const struct art_request *req, struct pxf_error *err)
{
        struct live l = {.job = req, .stage = stage_of(req)};
        int r = mkdir(l.stage, 0755) < 0
                    ? pxf_error_set(err, -errno, "cannot create '%s': %m", l.stage)
                    : make_artifacts(&l, err);

        free(l.stage);
        free(l.kver);
        free(l.unsigned_files);
        free(l.iso);
        pxf_strv_free(l.base_args);
        pxf_strv_free(l.os_args);
        return r;
}

int art_publish(const struct art_request *req, struct pxf_error *err)
{
        struct live l = {.job = req, .stage = stage_of(req)};
        int r = publish(&l, err);

        free(l.stage);
        return r;
}

char *art_made_path(const struct art_request *req, bool *ret_is_dir)
{
        *ret_is_dir = req->format != CFG_FORMAT_ISO;
        return *ret_is_dir ? stage_of(req) : pxf_strdup(req->partial);
}
