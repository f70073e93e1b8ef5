/* Package sources for the package steps of one build (--rpm-source,
 * --disable-base-image-rpm-repos). On dnf and tdnf images they mean what the reference
 * tool makes of them (sources-rpm.c); on apt images they have the Debian meaning:
 *
 * - a folder of .deb files becomes a flat apt repository in the guest: the files and a
 *   Packages index that pxeforge writes from each package's control file (read on the
 *   host with libarchive: the files are the user's, not guest data), trusted for this
 *   build only;
 * - an apt source file (.list or .sources) is added as it is;
 * - with the image's own sources off, apt reads only these (an empty sources.list and a
 *   sources.list.d of pxeforge's).
 *
 * apt keeps the indexes of this build in a folder of its own (Dir::State::Lists), so the
 * image's /var/lib/apt/lists is left as it was; afterwards the folder, the packages and
 * any source file pxeforge added are removed, so the image keeps only its own sources. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/builder-internal.h"

/* In the guest, for the package steps only. */
#define SOURCES_DIR  BLD_SOURCES_DIR
#define LISTS_DIR    SOURCES_DIR "/lists"
#define PARTS_DIR    SOURCES_DIR "/sources.list.d"
#define EMPTY_LIST   SOURCES_DIR "/sources.list"
#define IMAGE_PARTS  "/etc/apt/sources.list.d"
#define ADDED_PREFIX "pxeforge-source-"

#define CONTROL_TAR_MAX (64u << 20)
#define CONTROL_MAX     (1u << 20)

static bool is_package_name(const char *name, const char *suffix)
{
        if (!pxf_has_suffix(name, suffix) || name[0] == '.')
                return false;
        for (const char *p = name; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~-",
                            *p))
                        return false;
        return true;
}

bool bld_is_apt_source_file(const char *path)
{
        return pxf_has_suffix(path, ".list") || pxf_has_suffix(path, ".sources");
}

int bld_package_names(const char *dir, const char *suffix, char ***ret, struct pxf_error *err)
{
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        int r = 0;

        if (n < 0)
                return pxf_error_set(err, -errno, "--rpm-source '%s': %m", dir);
        for (int i = 0; i < n; i++) {
                if (r >= 0 && pxf_has_suffix(list[i]->d_name, suffix)) {
                        if (is_package_name(list[i]->d_name, suffix))
                                pxf_strv_push(ret, list[i]->d_name);
                        else
                                r = pxf_error_set(err, -EINVAL,
                                                  "--rpm-source '%s': '%s' is a file name "
                                                  "pxeforge does not take (letters, digits and "
                                                  ". _ + ~ - only)",
                                                  dir, list[i]->d_name);
                }
                free(list[i]);
        }
        free(list);
        return r;
}

bool bld_sources_wanted(const struct bld_package_sources *s)
{
        return s && (s->n > 0 || s->disable_image_sources);
}

int bld_sources_key(struct cache_key *k, const struct bld_package_sources *s, struct pxf_error *err)
{
        if (!bld_sources_wanted(s))
                return 0;
        cache_key_add(k, "the image's own package sources",
                      s->disable_image_sources ? "off" : "on");
        for (size_t i = 0; i < s->n; i++) {
                int r = cache_key_add_file(k, "package source", s->paths[i], err);
                if (r >= 0 && pxf_has_suffix(s->paths[i], ".repo"))
                        r = bld_repo_file_key(k, s->paths[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- a folder of .deb files as a flat repository ------------------------------------ */

/* Reads the current entry's data, at most max bytes, NUL-terminated. */
static int read_entry(struct archive *a, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        la_ssize_t n;
        char chunk[65536];

        while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0) {
                if (len + (size_t)n > max)
                        return -EFBIG;
                if (len + (size_t)n + 1 > cap) {
                        cap = 2 * (len + (size_t)n + 1);
                        buf = pxf_reallocarray(buf, cap, 1);
                }
                memcpy(buf + len, chunk, (size_t)n);
                len += (size_t)n;
        }
        if (n < 0)
                return -EBADMSG;
        if (!buf)
                buf = pxf_calloc(1, 1);
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* The member whose name starts with prefix (for a tar also "./"), read whole. */
static int find_member(struct archive *a, const char *name, bool prefix, size_t max, char **ret,
                       size_t *ret_len)
{
        struct archive_entry *e;

        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                const char *p = archive_entry_pathname(e);
                if (p && strncmp(p, "./", 2) == 0)
                        p += 2;
                if (p && (prefix ? strncmp(p, name, strlen(name)) == 0 : strcmp(p, name) == 0))
                        return read_entry(a, max, ret, ret_len);
        }
        return -ENOENT;
}

/* A .deb is an ar archive whose control.tar(.gz, .xz, .zst) holds ./control. */
static int deb_control(int fd, char **ret)
{
        struct archive *ar = archive_read_new(), *tar = archive_read_new();
        _cleanup_free_ char *control_tar = NULL;
        size_t len = 0;
        int r = -EBADMSG;

        archive_read_support_format_ar(ar);
        archive_read_support_format_tar(tar);
        archive_read_support_filter_all(tar);
        if (lseek(fd, 0, SEEK_SET) == 0 && archive_read_open_fd(ar, fd, 65536) == ARCHIVE_OK)
                r = find_member(ar, "control.tar", true, CONTROL_TAR_MAX, &control_tar, &len);
        if (r >= 0)
                r = archive_read_open_memory(tar, control_tar, len) == ARCHIVE_OK
                        ? find_member(tar, "control", false, CONTROL_MAX, ret, NULL)
                        : -EBADMSG;
        archive_read_free(ar);
        archive_read_free(tar);
        return r;
}

static bool has_field(const char *control, const char *field)
{
        size_t len = strlen(field);

        for (const char *line = control; line;) {
                if (strncmp(line, field, len) == 0 && line[len] == ':')
                        return true;
                line = strchr(line, '\n');
                line = line ? line + 1 : NULL;
        }
        return false;
}

char *bld_deb_stanza(const char *control, const char *filename, uint64_t size, const char *sha256)
{
        size_t len = strlen(control);

        while (len > 0 && (control[len - 1] == '\n' || control[len - 1] == ' '))
                len--;
        return pxf_asprintf("%.*s\nFilename: ./%s\nSize: %llu\nSHA256: %s\n\n", (int)len, control,
                            filename, (unsigned long long)size, sha256);
}

/* The Packages stanza of dir/name, read and checked on the host. */
static int deb_stanza(const char *dir, const char *name, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, name);
        _cleanup_free_ char *control = NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char sha256[CACHE_KEY_HEX + 1];
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return pxf_error_set(err, -errno, "--rpm-source: cannot read '%s': %m", path);
        if (!S_ISREG(st.st_mode) || cache_fd_sha256(fd, sha256) < 0 ||
            deb_control(fd, &control) < 0 || !has_field(control, "Package") ||
            !has_field(control, "Version") || !has_field(control, "Architecture"))
                return pxf_error_set(err, -EINVAL,
                                     "--rpm-source: '%s' is not a Debian package (no control "
                                     "file with Package, Version and Architecture)",
                                     path);
        *ret = bld_deb_stanza(control, name, (uint64_t)st.st_size, sha256);
        return 0;
}

/* A folder's .deb files and their Packages index (none without .deb files). */
static int deb_folder(const char *dir, char ***ret_names, char **ret_index, struct pxf_error *err)
{
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *index = pxf_strdup("");
        int r = bld_package_names(dir, ".deb", &names, err);

        for (size_t k = 0; r >= 0 && names && names[k]; k++) {
                _cleanup_free_ char *stanza = NULL, *joined = NULL;
                r = deb_stanza(dir, names[k], &stanza, err);
                if (r < 0)
                        break;
                joined = pxf_asprintf("%s%s", index, stanza);
                free(index);
                index = TAKE_PTR(joined);
        }
        if (r < 0)
                return r;
        *ret_names = TAKE_PTR(names);
        *ret_index = TAKE_PTR(index);
        return 0;
}

int bld_sources_copy_packages(struct bld_guest *gs, const char *dir, char *const *names,
                              const char *suffix, const char *guest_dir, struct pxf_error *err)
{
        int r;

        if (!names)
                return pxf_error_set(err, -ENOENT,
                                     "--rpm-source '%s' holds no %s files, which image '%s' (%s) "
                                     "needs",
                                     dir, suffix, gs->image, gs->distro);
        r = bld_guest_mkdir_p(gs, guest_dir, 0755, err);
        for (size_t k = 0; r >= 0 && names[k]; k++) {
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, names[k]);
                _cleanup_free_ char *guest = pxf_asprintf("%s/%s", guest_dir, names[k]);
                r = bld_guest_upload(gs, path, guest, 0644, err);
        }
        return r;
}

/* The folder's packages and their index in the guest; the line of its apt source. */
static int add_deb_folder(struct bld_guest *gs, const char *dir, size_t i, char **ret_line,
                          struct pxf_error *err)
{
        _cleanup_free_ char *guest_dir = pxf_asprintf("%s/debs-%zu", SOURCES_DIR, i);
        _cleanup_free_ char *index = NULL, *packages = NULL;
        _cleanup_strv_free_ char **names = NULL;
        int r = deb_folder(dir, &names, &index, err);

        if (r >= 0)
                r = bld_sources_copy_packages(gs, dir, names, ".deb", guest_dir, err);
        if (r < 0)
                return r;
        packages = pxf_asprintf("%s/Packages", guest_dir);
        r = bld_guest_write(gs, packages, index, strlen(index), 0644, err);
        if (r >= 0)
                *ret_line = pxf_asprintf("deb [trusted=yes] file:%s ./\n", guest_dir);
        log_info("  --rpm-source '%s': %zu package(s)", dir, pxf_strv_length(names));
        return r;
}

/* A folder's packages, both kinds: which the build takes depends on the image. */
static int check_folder(const char *dir, struct pxf_error *err)
{
        _cleanup_strv_free_ char **names = NULL, **rpms = NULL;
        _cleanup_free_ char *index = NULL;
        int r = deb_folder(dir, &names, &index, err);

        if (r >= 0)
                r = bld_package_names(dir, ".rpm", &rpms, err);
        if (r >= 0)
                r = bld_rpm_check(dir, rpms, err);
        if (r >= 0 && !names && !rpms)
                r = pxf_error_set(err, -ENOENT,
                                  "--rpm-source '%s' is a folder without .deb or .rpm files", dir);
        return r;
}

/* Every package of every folder is read here, before any work, so that a bad one stops
 * the build at once; the package step reads them again for the index it writes. */
int bld_sources_check(const struct bld_package_sources *s, struct pxf_error *err)
{
        for (size_t i = 0; i < s->n; i++) {
                const char *path = s->paths[i];
                struct stat st;
                int r;

                if (stat(path, &st) < 0)
                        return pxf_error_set(err, -errno, "--rpm-source '%s': %m", path);
                if (S_ISREG(st.st_mode) && bld_is_apt_source_file(path))
                        continue;
                if (S_ISREG(st.st_mode) && pxf_has_suffix(path, ".repo"))
                        r = bld_repo_file_check(path, err);
                else if (S_ISDIR(st.st_mode))
                        r = check_folder(path, err);
                else
                        r = pxf_error_set(err, -EINVAL,
                                          "--rpm-source '%s' is none of a folder of packages "
                                          "(.deb or .rpm), an apt source file (.list or "
                                          ".sources) or a .repo file",
                                          path);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- in and out of the guest ------------------------------------------------------ */

/* Where pxeforge's source files go: beside the image's own, or alone when those are off. */
static char *added_source_path(const struct bld_package_sources *s, size_t i, const char *suffix)
{
        return pxf_asprintf("%s/" ADDED_PREFIX "%zu%s",
                            s->disable_image_sources ? PARTS_DIR : IMAGE_PARTS, i, suffix);
}

static int add_source(struct bld_guest *gs, size_t i, struct pxf_error *err)
{
        const struct bld_package_sources *s = gs->sources;
        const char *path = s->paths[i];
        _cleanup_free_ char *line = NULL, *dest = NULL;
        int r;

        if (pxf_has_suffix(path, ".repo"))
                return pxf_error_set(err, -EINVAL,
                                     "--rpm-source '%s' is a .repo file, for dnf and tdnf: image "
                                     "'%s' (%s) uses apt (give a folder of .deb files or an apt "
                                     "source file)",
                                     path, gs->image, gs->distro);
        if (bld_is_apt_source_file(path)) {
                dest =
                    added_source_path(s, i, pxf_has_suffix(path, ".list") ? ".list" : ".sources");
                log_info("  --rpm-source '%s': an apt source", path);
                return bld_guest_upload(gs, path, dest, 0644, err);
        }
        r = add_deb_folder(gs, path, i, &line, err);
        dest = added_source_path(s, i, ".list");
        return r < 0 ? r : bld_guest_write(gs, dest, line, strlen(line), 0644, err);
}

int bld_sources_install(struct bld_guest *gs, struct pxf_error *err)
{
        const struct bld_package_sources *s = gs->sources;
        int r;

        if (!bld_sources_wanted(s))
                return 0;
        if (gs->pkg != BLD_PKG_APT) {
                r = bld_rpm_sources_install(gs, err);
                gs->sources_in = r >= 0;
                return r;
        }
        r = bld_guest_mkdir_p(gs, LISTS_DIR "/partial", 0755, err);
        if (r >= 0 && s->disable_image_sources) {
                log_info(
                    "  the image's own apt sources are not used (--disable-base-image-rpm-repos)");
                r = bld_guest_mkdir_p(gs, PARTS_DIR, 0755, err);
                if (r >= 0)
                        r = bld_guest_write(gs, EMPTY_LIST, "", 0, 0644, err);
        }
        for (size_t i = 0; r >= 0 && i < s->n; i++)
                r = add_source(gs, i, err);
        gs->sources_in = r >= 0;
        return r;
}

void bld_sources_options(const struct bld_guest *gs, const char *program, const char ***argv,
                         size_t *n)
{
        if (!gs->sources_in)
                return;
        if (strcmp(program, "dnf") == 0 || strcmp(program, "tdnf") == 0) {
                bld_rpm_sources_options(argv, n);
                return;
        }
        if (strcmp(program, "apt-get") != 0)
                return;
        (*argv)[(*n)++] = "-o";
        (*argv)[(*n)++] = "Dir::State::Lists=" LISTS_DIR;
        if (!gs->sources->disable_image_sources)
                return;
        (*argv)[(*n)++] = "-o";
        (*argv)[(*n)++] = "Dir::Etc::SourceList=" EMPTY_LIST;
        (*argv)[(*n)++] = "-o";
        (*argv)[(*n)++] = "Dir::Etc::SourceParts=" PARTS_DIR;
}

int bld_sources_remove(struct bld_guest *gs, struct pxf_error *err)
{
        const struct bld_package_sources *s = gs->sources;
        int r = 0;

        if (!bld_sources_wanted(s))
                return 0;
        gs->sources_in = false;
        for (size_t i = 0;
             r >= 0 && i < s->n && gs->pkg == BLD_PKG_APT && !s->disable_image_sources; i++) {
                static const char *const suffixes[] = {".list", ".sources"};
                for (size_t k = 0; r >= 0 && k < PXF_ELEMENTSOF(suffixes); k++) {
                        _cleanup_free_ char *path = added_source_path(s, i, suffixes[k]);
                        if (bld_guest_exists(gs, path))
                                r = bld_guest_remove(gs, path, err);
                }
        }
        return r < 0 ? r : bld_guest_remove(gs, SOURCES_DIR, err);
}
