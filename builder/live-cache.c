/* Live builds in the build cache (cache/cache.h), at three levels:
 *
 * - the image's tree, as it left the appliance before any step, so that every live build
 *   of an unchanged image after the first skips the appliance and the export (minutes
 *   under emulation). Key: pxeforge's own executable and the input image's bytes. Entry:
 *   the tree archived as below, and beside it what inspection found (distribution and
 *   major version), which the steps need. It may be kept apart from the rest
 *   (--image-tree-cache-dir), so that several build dirs share it.
 * - the customized tree, so that a rebuild whose image and `os`/`scripts` settings did
 *   not change skips the appliance, the export and every customization step. Key:
 *   pxeforge's own executable, the input image's bytes, the config as canonical text
 *   without the sections that do not shape the tree (input, iso, pxe, output, server; but
 *   server.bootReport, which adds a unit), and the contents of every host file those
 *   sections name. Entry: the tree as a tar (pax,
 *   with numeric owners, modes, extended attributes and hard links) compressed with zstd;
 *   it is unpacked like the export (export.c), so the cache is treated as guest data too.
 * - the finished output, so that a rebuild with nothing changed only puts it back. Key:
 *   the tree's key, the format, the `pxe` and `iso` settings and their host files, the
 *   `server` settings that shape a PXE folder and the host files it takes (iPXE, GRUB for
 *   BIOS). Entry:
 *   the staged artifacts folder archived the same way, or the ISO itself. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "artifacts/artifacts.h"
#include "builder/builder-internal.h"
#include "builder/run-internal.h"

static const char *const outside_tree[] = {"input", "iso", "pxe", "output", "server", NULL};
static const char *const outside_output[] = {"input", "output", "server", NULL};

struct key_files {
        struct cache_key *key;
        bool artifacts; /* the host files of the pxe and iso sections, or all the others */
        int r;
        struct pxf_error *err;
};

static void add_host_file(const char *path, bool is_dir, struct cfg_loc loc, const char *key_path,
                          void *userdata)
{
        struct key_files *kf = userdata;
        bool artifacts = strncmp(key_path, "iso.", 4) == 0 || strncmp(key_path, "pxe.", 4) == 0;

        (void)is_dir, (void)loc;
        if (kf->r >= 0 && artifacts == kf->artifacts)
                kf->r = cache_key_add_file(kf->key, key_path, path, kf->err);
}

/* Adds the config's canonical text (without the sections in skip) and its host files. */
static int add_config(struct key_files *kf, const struct cfg_config *cfg, const char *const *skip)
{
        _cleanup_free_ char *text = cfg_canonical_text(cfg, skip);

        cache_key_add(kf->key, "config", text);
        cfg_for_each_host_path(cfg, add_host_file, kf);
        return kf->r;
}

static int finish_key(struct key_files *kf, char key[CACHE_KEY_HEX + 1])
{
        if (kf->r < 0) {
                cache_key_free(kf->key);
                return kf->r;
        }
        cache_key_finish(kf->key, key);
        return 0;
}

int bld_tree_key(const struct cfg_config *cfg, const struct bld_package_sources *sources,
                 const char *image_sha256, char key[CACHE_KEY_HEX + 1], struct pxf_error *err)
{
        struct key_files kf = {.key = cache_key_new("customized tree"), .err = err};

        kf.r = cache_key_add_file(kf.key, "pxeforge", "/proc/self/exe", err);
        cache_key_add(kf.key, "image", image_sha256);
        if (kf.r >= 0)
                kf.r = bld_sources_key(kf.key, sources, err);
        if (kf.r >= 0)
                kf.r = add_config(&kf, cfg, outside_tree);
        /* the one `server` setting that adds files to the tree */
        cache_key_add(kf.key, "server.bootReport", cfg->server.boot_report ? "true" : "false");
        return finish_key(&kf, key);
}

int bld_image_tree_key(const char *image_sha256, char key[CACHE_KEY_HEX + 1], struct pxf_error *err)
{
        struct key_files kf = {.key = cache_key_new("image tree"), .err = err};

        kf.r = cache_key_add_file(kf.key, "pxeforge", "/proc/self/exe", err);
        cache_key_add(kf.key, "image", image_sha256);
        return finish_key(&kf, key);
}

static void add_artifact_host_file(const char *name, const char *path, void *userdata)
{
        struct key_files *kf = userdata;

        if (kf->r >= 0)
                kf->r = cache_key_add_file(kf->key, name, path, kf->err);
}

/* The few `server` settings that shape a PXE folder (grub.cfg's HTTP port, iPXE, GRUB for
 * BIOS and the Secure Boot check), and the host files the folder takes (iPXE, GRUB for
 * BIOS). */
static int add_server_settings(struct key_files *kf, const struct cfg_config *cfg)
{
        const struct cfg_server *s = &cfg->server;
        _cleanup_free_ char *text =
            pxf_asprintf("httpPort=%d ipxe=%d bios=%d secureBoot=%d", s->http_port, (int)s->ipxe,
                         (int)s->bios, (int)s->secure_boot);

        cache_key_add(kf->key, "server", text);
        art_host_files(cfg, add_artifact_host_file, kf);
        return kf->r;
}

int bld_output_key(const struct cfg_config *cfg, const char *tree_key, const char *format,
                   const char *default_url, char key[CACHE_KEY_HEX + 1], struct pxf_error *err)
{
        struct key_files kf = {.key = cache_key_new("output"), .artifacts = true, .err = err};

        cache_key_add(kf.key, "tree", tree_key);
        cache_key_add(kf.key, "format", format);
        cache_key_add(kf.key, "default bootstrap base URL", default_url);
        (void)add_config(&kf, cfg, outside_output);
        if (kf.r >= 0)
                kf.r = add_server_settings(&kf, cfg);
        return finish_key(&kf, key);
}

/* ---- writing the archive ------------------------------------------------------------- */

static int archive_error(struct archive *a, const char *what, struct pxf_error *err)
{
        int e = archive_errno(a);

        return pxf_error_set(err, e > 0 ? -e : -EIO, "%s: %s", what,
                             archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

static int write_data(struct archive *w, struct archive_entry *e, struct pxf_error *err)
{
        _cleanup_close_ int fd = -1;
        char buf[65536];
        ssize_t n;

        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_size(e) == 0)
                return 0;
        fd = open(archive_entry_sourcepath(e), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot read '%s' of the tree: %m",
                                     archive_entry_sourcepath(e));
        while ((n = read(fd, buf, sizeof buf)) > 0)
                if (archive_write_data(w, buf, (size_t)n) < 0)
                        return archive_error(w, "cannot write the tree archive", err);
        return n < 0
                   ? pxf_error_set(err, -errno, "cannot read '%s': %m", archive_entry_sourcepath(e))
                   : 0;
}

/* One entry, or with its hard links resolved: the first name of a file carries its data,
 * the others link to it. */
static int write_entry(struct archive *w, struct archive_entry_linkresolver *links,
                       struct archive_entry *e, struct pxf_error *err)
{
        struct archive_entry *spare = NULL;
        int r = 0;

        archive_entry_linkify(links, &e, &spare);
        if (e && archive_write_header(w, e) < ARCHIVE_OK)
                r = archive_error(w, "cannot write the tree archive", err);
        else if (e)
                r = write_data(w, e, err);
        if (r >= 0 && spare && archive_write_header(w, spare) < ARCHIVE_OK)
                r = archive_error(w, "cannot write the tree archive", err);
        else if (r >= 0 && spare)
                r = write_data(w, spare, err);
        archive_entry_free(spare);
        return r;
}

static int walk_tree(struct archive *disk, struct archive *w, struct pxf_error *err)
{
        struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
        struct archive_entry *e = archive_entry_new();
        int r = 0, status;

        archive_entry_linkresolver_set_strategy(links, archive_format(w));
        while (r >= 0 && (status = archive_read_next_header2(disk, e)) != ARCHIVE_EOF) {
                if (status < ARCHIVE_WARN) {
                        r = archive_error(disk, "cannot read the tree", err);
                        break;
                }
                (void)archive_read_disk_descend(disk);
                r = write_entry(w, links, e, err);
        }
        archive_entry_free(e);
        archive_entry_linkresolver_free(links);
        return r;
}

/* The tree as a zstd-compressed pax archive at out, names relative to the tree. */
static int write_tree_archive(const char *tree, const char *out, struct pxf_error *err)
{
        _cleanup_close_ int old_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct archive *disk = archive_read_disk_new(), *w = archive_write_new();
        int r = 0;

        archive_read_disk_set_symlink_physical(disk);
        (void)archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
        archive_write_set_format_pax_restricted(w);
        archive_write_add_filter_zstd(w);
        (void)archive_write_set_filter_option(w, "zstd", "compression-level", "1");
        /* The archive is opened first: out may be relative to where we are now. */
        if (archive_write_open_filename(w, out) != ARCHIVE_OK)
                r = archive_error(w, "cannot create the tree archive", err);
        else if (old_cwd < 0 || chdir(tree) < 0)
                r = pxf_error_set(err, -errno, "cannot enter the tree '%s': %m", tree);
        else if (archive_read_disk_open(disk, ".") != ARCHIVE_OK)
                r = archive_error(disk, "cannot read the tree", err);
        if (r >= 0)
                r = walk_tree(disk, w, err);
        if (archive_write_close(w) != ARCHIVE_OK && r >= 0)
                r = archive_error(w, "cannot finish the tree archive", err);
        archive_read_free(disk);
        archive_write_free(w);
        if (old_cwd >= 0)
                (void)fchdir(old_cwd);
        return r;
}

int bld_tree_unpack(const char *archive, const char *tree, struct pxf_error *err)
{
        _cleanup_close_ int fd = open(archive, O_RDONLY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", archive);
        if (mkdir(tree, 0755) < 0)
                return pxf_error_set(err, -errno, "cannot create '%s': %m", tree);
        r = bld_unpack_tar(fd, tree, err);
        (void)unlink(archive);
        return r;
}

/* ---- entries ----------------------------------------------------------------------- */

int bld_cache_keep(struct cache *c, const char *key, const char *path, bool is_dir,
                   const char *work_dir, struct pxf_error *err)
{
        _cleanup_free_ char *archive = NULL;
        int r;

        if (!is_dir)
                return cache_store(c, key, path, err);
        archive = pxf_asprintf("%s/for-cache.tar.zst", work_dir);
        r = write_tree_archive(path, archive, err);
        if (r >= 0)
                r = cache_store(c, key, archive, err);
        (void)unlink(archive);
        return r;
}

int bld_cache_take(struct cache *c, const char *key, const char *path, bool is_dir,
                   const char *work_dir, char **ret_archive, struct pxf_error *err)
{
        _cleanup_free_ char *archive = NULL;
        int r;

        if (!is_dir)
                return cache_fetch(c, key, path, err);
        archive = pxf_asprintf("%s/from-cache-%.12s.tar.zst", work_dir, key);
        r = cache_fetch(c, key, archive, err);
        if (r == 1)
                *ret_archive = TAKE_PTR(archive);
        return r;
}

/* ---- the image's tree ------------------------------------------------------------------ */

/* What inspection found is a second entry, "DISTRO MAJOR\n", under a key of its own. */
static void info_key(const char *tree_key, char key[CACHE_KEY_HEX + 1])
{
        struct cache_key *k = cache_key_new("image tree inspection");

        cache_key_add(k, "tree", tree_key);
        cache_key_finish(k, key);
}

int bld_image_tree_keep(struct cache *c, const char *key, const struct bld_guest *gs,
                        const char *tree, const char *work_dir, struct pxf_error *err)
{
        _cleanup_free_ char *info = pxf_asprintf("%s/image-tree.info", work_dir);
        _cleanup_free_ char *text = pxf_asprintf("%s %d\n", gs->distro, gs->major_version);
        char ikey[CACHE_KEY_HEX + 1];
        int r = pxf_write_file_atomic(info, text, strlen(text), 0600, err);

        info_key(key, ikey);
        if (r >= 0)
                r = cache_store(c, ikey, info, err);
        (void)unlink(info);
        return r < 0 ? r : bld_cache_keep(c, key, tree, true, work_dir, err);
}

/* "DISTRO MAJOR\n" from the cache: a distribution name as inspection gives it. */
static int parse_info(const char *text, struct bld_image_tree *ret)
{
        char distro[64];
        int major, end = 0;

        if (sscanf(text, "%63[a-z0-9_-] %d%n", distro, &major, &end) != 2 || text[end] != '\n' ||
            text[end + 1] != '\0')
                return -EBADMSG;
        ret->distro = pxf_strdup(distro);
        ret->major_version = major;
        return 0;
}

int bld_image_tree_take(struct cache *c, const char *key, const char *work_dir,
                        struct bld_image_tree *ret, struct pxf_error *err)
{
        _cleanup_free_ char *info = pxf_asprintf("%s/image-tree.info", work_dir);
        _cleanup_free_ char *text = NULL;
        char ikey[CACHE_KEY_HEX + 1];
        int r;

        info_key(key, ikey);
        r = cache_fetch(c, ikey, info, err);
        if (r == 1) {
                r = pxf_read_file(info, 256, &text, NULL);
                (void)unlink(info);
                if (r < 0)
                        return pxf_error_set(err, r, "cannot read '%s': %s", info, strerror(-r));
                r = parse_info(text, ret) < 0 ? 0 : 1; /* unreadable: a miss, made again */
        }
        if (r == 1)
                r = bld_cache_take(c, key, NULL, true, work_dir, &ret->archive, err);
        if (r != 1)
                bld_image_tree_clear(ret);
        return r;
}

void bld_image_tree_clear(struct bld_image_tree *t)
{
        free(t->archive);
        free(t->distro);
        *t = (struct bld_image_tree){0};
}
