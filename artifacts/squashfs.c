/* LiveOS/squashfs.img of the live ISO: the OS tree as a squashfs made by mksquashfs
 * (squashfs-tools 4.5.1 in bookworm), which dracut's dmsquash-live mounts as the lower
 * layer of the live root.
 *
 * Compression: zstd, which every kernel that can boot a live ISO reads (CONFIG_SQUASHFS_ZSTD
 * since 4.14) and which unpacks several times faster than xz at a similar size. The level
 * is chosen below.
 *
 * Mount points: mksquashfs 4.5.1's (Debian 12) -one-file-system leaves a mount point out
 * altogether, directory included; a tree exported with /proc or /dev mounted in it would
 * then boot without those directories. 4.6.1's (Debian 13) keeps an empty directory with
 * the mounted root's attributes, and then refuses a pseudo-file definition for the same
 * path ("exists in source filesystem"). So each topmost mount point below the tree is
 * excluded (-e) and added back as an empty directory with a pseudo-file definition (-p),
 * as art_cpio_write keeps them, the same with either version.
 *
 * Exclusions: mksquashfs matches a relative -e path against the paths inside the image,
 * which is what "tree-relative" means here; but a path starting with "/", "./" or "../" it
 * takes as a path on the host, so those forms are normalized or refused first.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "artifacts/iso-internal.h"

#define THREADS_MAX 256

/* The level (ART_SQUASHFS_ZSTD_LEVEL), measured with iso-writer-tool on the Debian bookworm
 * test image's tree (779 MB on disk, 18.8k entries), 2 threads, 2-core host:
 *
 *   level      1      3      6      9     11     12     13     15     19
 *   MB     272.1  264.3  248.7  245.9  245.3  246.0  241.7  234.1  232.5
 *   s        3.6    4.3    7.6   12.9   30.9   39.6   46.2   93.6  301.3
 *
 * Seconds paid per MB saved: under 0.25 up to level 6, 1.9 from 6 to 9, then 6 to 8 up to
 * 15 and 130 beyond. Level 9 is the knee: 5% larger than mksquashfs's default 15 at a
 * seventh of its time. Decompression speed hardly depends on the level.
 * tests/integration/iso-boot.sh measures levels 9 and 15 again on every run. */

struct squash {
        char **argv;
        char *tree;            /* realpath of the tree */
        char **excludes;       /* normalized */
        char **mount_excludes; /* mount points, added back by pseudo-file definitions */
        struct pxf_error *err;
};

static void squash_done(struct squash *s)
{
        pxf_strv_free(s->argv);
        pxf_strv_free(s->excludes);
        pxf_strv_free(s->mount_excludes);
        free(s->tree);
}

/* A path that an option parser cannot take for an option. */
static char *arg_path(const char *path)
{
        return path[0] == '-' ? pxf_asprintf("./%s", path) : pxf_strdup(path);
}

/* ---- exclusions --------------------------------------------------------------------- */

static bool valid_relative(const char *p, size_t len)
{
        for (size_t i = 0; i < len;) {
                size_t n = strcspn(p + i, "/");
                if (n > len - i)
                        n = len - i;
                if (n == 0 || (n == 1 && p[i] == '.') || (n == 2 && p[i] == '.' && p[i + 1] == '.'))
                        return false;
                i += n + 1;
        }
        return true;
}

/* Lets callers write "/etc/fstab", "./boot" or "boot/", like art_cpio_write. */
static int add_exclude(struct squash *s, const char *path)
{
        _cleanup_free_ char *copy = NULL;
        size_t len;
        const char *p = pxf_path_trim(path, &len);

        if (len == 0)
                return 0;
        if (!valid_relative(p, len))
                return pxf_error_set(s->err, -EINVAL,
                                     "cannot exclude '%s': expected a path inside the tree", path);
        copy = strndup(p, len);
        if (!copy)
                abort();
        pxf_strv_push(&s->excludes, copy);
        return 0;
}

static bool is_excluded(const struct squash *s, const char *rel)
{
        for (size_t i = 0; s->excludes && s->excludes[i]; i++) {
                size_t len = strlen(s->excludes[i]);
                if (strncmp(rel, s->excludes[i], len) == 0 && (rel[len] == '\0' || rel[len] == '/'))
                        return true;
        }
        return false;
}

/* ---- mount points ------------------------------------------------------------------- */

/* /proc/self/mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
        char *out = s;

        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *out++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
                        p += 3;
                } else {
                        *out++ = *p;
                }
        }
        *out = '\0';
}

/* The mount point (fifth field) of a mountinfo line, unescaped in place; NULL if none. */
static char *mount_point(char *line)
{
        char *save = NULL, *field = strtok_r(line, " ", &save);

        for (int i = 0; field && i < 4; i++)
                field = strtok_r(NULL, " ", &save);
        if (field)
                unescape_octal(field);
        return field;
}

/* The mount point's path relative to the tree, or NULL when it is not strictly below it. */
static const char *below_tree(const struct squash *s, const char *mp)
{
        size_t len = strlen(s->tree);

        if (strcmp(s->tree, "/") == 0)
                return mp[1] ? mp + 1 : NULL;
        if (strncmp(mp, s->tree, len) != 0 || mp[len] != '/' || mp[len + 1] == '\0')
                return NULL;
        return mp + len + 1;
}

/* The mount points below the tree, relative to it and sorted. */
static int list_mounts(struct squash *s, char ***ret)
{
        _cleanup_strv_free_ char **found = pxf_calloc(1, sizeof(char *));
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        FILE *f = fopen("/proc/self/mountinfo", "re");

        if (!f)
                return pxf_error_set(s->err, -errno, "cannot read /proc/self/mountinfo: %m");
        while (getline(&line, &size, f) > 0) {
                const char *mp, *rel;
                line[strcspn(line, "\n")] = '\0';
                mp = mount_point(line);
                rel = mp ? below_tree(s, mp) : NULL;
                if (rel)
                        pxf_strv_push(&found, rel);
        }
        fclose(f);
        pxf_strv_sort(found);
        *ret = TAKE_PTR(found);
        return 0;
}

/* Is path below one of the first n entries of list? */
static bool below_any(char *const *list, size_t n, const char *path)
{
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(list[i]);
                if (strncmp(path, list[i], len) == 0 && path[len] == '/')
                        return true;
        }
        return false;
}

/* A pseudo-file definition's file name: double quotes, with \ before " and \. */
static char *pseudo_name(const char *rel)
{
        char *out = pxf_calloc(2 * strlen(rel) + 3, 1), *o = out;

        *o++ = '"';
        for (const char *p = rel; *p; p++) {
                if (*p == '"' || *p == '\\')
                        *o++ = '\\';
                *o++ = *p;
        }
        *o = '"';
        return out;
}

static int add_mount_point(struct squash *s, const char *rel)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", s->tree, rel);
        _cleanup_free_ char *name = NULL, *def = NULL;
        struct stat st;

        if (strchr(rel, '\n'))
                return pxf_error_set(s->err, -EINVAL,
                                     "mount point '%s' has a line break in its name", path);
        if (stat(path, &st) < 0)
                return pxf_error_set(s->err, -errno, "cannot stat mount point '%s': %m", path);
        if (!S_ISDIR(st.st_mode)) {
                log_debug("%s: a file mounted over another; left out", path);
                return 0;
        }
        log_debug("%s: another file system is mounted here; its contents are left out", path);
        name = pseudo_name(rel);
        def = pxf_asprintf("%s d %04o %u %u", name, (unsigned)(st.st_mode & 07777),
                           (unsigned)st.st_uid, (unsigned)st.st_gid);
        pxf_strv_push(&s->argv, "-p");
        pxf_strv_push(&s->argv, def);
        pxf_strv_push(&s->mount_excludes, rel);
        return 0;
}

/* Empty directories for the topmost mount points that are not excluded. */
static int add_mount_points(struct squash *s)
{
        _cleanup_strv_free_ char **mounts = NULL;
        int r = list_mounts(s, &mounts);

        for (size_t i = 0; r >= 0 && mounts[i]; i++)
                if (!below_any(mounts, i, mounts[i]) && !is_excluded(s, mounts[i]))
                        r = add_mount_point(s, mounts[i]);
        return r;
}

/* ---- running mksquashfs ------------------------------------------------------------- */

static void push_int(char ***v, int value)
{
        char buf[16];

        snprintf(buf, sizeof buf, "%d", value);
        pxf_strv_push(v, buf);
}

/* -exit-on-error: mksquashfs otherwise skips a file it cannot read with a warning, and a
 * live system with a file silently missing is worse than a failed build. -reproducible is
 * 4.5.1's default. */
static int build_argv(struct squash *s, int threads, int level, const char *partial)
{
        _cleanup_free_ char *tree = arg_path(s->tree), *out = arg_path(partial);
        static const char *const fixed[] = {
            "-noappend",        "-comp",          "zstd",         "-xattrs", "-root-mode", "0755",
            "-one-file-system", "-exit-on-error", "-no-progress", "-quiet"};
        int r;

        s->argv = pxf_calloc(1, sizeof(char *));
        pxf_strv_push(&s->argv, "mksquashfs");
        pxf_strv_push(&s->argv, tree);
        pxf_strv_push(&s->argv, out);
        for (size_t i = 0; i < PXF_ELEMENTSOF(fixed); i++)
                pxf_strv_push(&s->argv, fixed[i]);
        pxf_strv_push(&s->argv, "-Xcompression-level");
        push_int(&s->argv, level);
        pxf_strv_push(&s->argv, "-processors");
        push_int(&s->argv, pxf_thread_count(threads, THREADS_MAX));
        r = add_mount_points(s);
        if (r < 0)
                return r;
        /* -e takes every argument after it, so it comes last. */
        if ((s->excludes && s->excludes[0]) || (s->mount_excludes && s->mount_excludes[0]))
                pxf_strv_push(&s->argv, "-e");
        for (size_t i = 0; s->excludes && s->excludes[i]; i++)
                pxf_strv_push(&s->argv, s->excludes[i]);
        for (size_t i = 0; s->mount_excludes && s->mount_excludes[i]; i++)
                pxf_strv_push(&s->argv, s->mount_excludes[i]);
        return 0;
}

static int set_tree(struct squash *s, const char *tree)
{
        struct stat st;

        s->tree = realpath(tree, NULL);
        if (!s->tree)
                return pxf_error_set(s->err, -errno, "cannot read tree '%s': %m", tree);
        if (stat(s->tree, &st) < 0)
                return pxf_error_set(s->err, -errno, "cannot read tree '%s': %m", tree);
        if (!S_ISDIR(st.st_mode))
                return pxf_error_set(s->err, -ENOTDIR, "tree '%s' is not a directory", tree);
        return 0;
}

static int run_mksquashfs(struct squash *s, const char *partial, const char *out_path)
{
        int r;

        if (unlink(partial) < 0 && errno != ENOENT)
                return pxf_error_set(s->err, -errno, "cannot remove '%s': %m", partial);
        r = pxf_spawn_tool((const char *const *)s->argv, "squashfs-tools", NULL, s->err);
        if (r < 0)
                return r;
        r = pxf_publish_file(partial, out_path);
        if (r < 0)
                return pxf_error_set(s->err, r, "cannot move '%s' into place: %s", out_path,
                                     strerror(-r));
        return 0;
}

static void log_size(const char *out_path, uint64_t start, int level)
{
        struct stat st;

        if (stat(out_path, &st) == 0)
                log_debug("squashfs %s: %.1f MiB in %.1f s (zstd level %d)", out_path,
                          (double)st.st_size / (1024.0 * 1024.0),
                          (double)(pxf_now_usec() - start) / 1e6, level);
}

int art_squashfs_write_level(const char *tree, const char *const *exclude, int threads,
                             int zstd_level, const char *out_path, struct pxf_error *err)
{
        _cleanup_free_ char *partial = pxf_asprintf("%s.partial", out_path);
        struct squash s = {.err = err, .excludes = pxf_calloc(1, sizeof(char *))};
        uint64_t start = pxf_now_usec();
        int r = 0;

        if (zstd_level < 1 || zstd_level > 22)
                r = pxf_error_set(err, -EINVAL, "zstd level %d is not between 1 and 22",
                                  zstd_level);
        if (r >= 0)
                r = set_tree(&s, tree);
        for (size_t i = 0; r >= 0 && exclude && exclude[i]; i++)
                r = add_exclude(&s, exclude[i]);
        if (r >= 0)
                r = build_argv(&s, threads, zstd_level, partial);
        if (r >= 0)
                r = run_mksquashfs(&s, partial, out_path);
        squash_done(&s);
        if (r < 0) {
                (void)unlink(partial);
                pxf_error_prefix(err, "cannot write squashfs '%s'", out_path);
                return r;
        }
        log_size(out_path, start, zstd_level);
        return 0;
}

int art_squashfs_write(const char *tree, const char *const *exclude, int threads,
                       const char *out_path, struct pxf_error *err)
{
        return art_squashfs_write_level(tree, exclude, threads, ART_SQUASHFS_ZSTD_LEVEL, out_path,
                                        err);
}
