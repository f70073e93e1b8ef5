/* os.additionalFiles and os.additionalDirs: host files copied into the image through
 * libguestfs uploads, owned by root, with the modes the config asks for. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/builder-internal.h"

#define DIR_DEPTH_MAX 64

static int ensure_parent(struct bld_guest *gs, const char *path, struct pxf_error *err)
{
        _cleanup_free_ char *parent = pxf_dirname(path);

        return bld_guest_mkdir_p(gs, parent, 0755, err);
}

static int copy_file(struct bld_guest *gs, const struct cfg_file *f, struct pxf_error *err)
{
        struct stat st;
        mode_t mode;
        int r = ensure_parent(gs, f->destination, err);

        if (r < 0)
                return r;
        if (f->content) {
                mode = f->has_permissions ? f->permissions : 0644;
                return bld_guest_write(gs, f->destination, f->content, strlen(f->content), mode,
                                       err);
        }
        if (stat(f->source, &st) < 0 || !S_ISREG(st.st_mode))
                return pxf_error_set(err, -ENOENT,
                                     "source file '%s' does not exist or is "
                                     "not a regular file",
                                     f->source);
        mode = f->has_permissions ? f->permissions : (st.st_mode & 07777);
        return bld_guest_upload(gs, f->source, f->destination, mode, err);
}

static int files_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct cfg_os *os = &cfg->os;
        for (size_t i = 0; i < os->n_additional_files; i++) {
                const struct cfg_file *f = &os->additional_files[i];
                int r = copy_file(gs, f, err);
                if (r < 0)
                        return pxf_error_prefix(err, "os.additionalFiles[%zu] (%s)", i,
                                                f->destination);
        }
        return 0;
}

static int copy_tree(struct bld_guest *gs, const struct cfg_dir *d, const char *src,
                     const char *dst, unsigned depth, struct pxf_error *err);

/* A directory the tree brings: new ones get newDirPermissions, existing ones (merged
 * into) change mode only when mergedDirPermissions is set. */
static int make_dir(struct bld_guest *gs, const struct cfg_dir *d, const char *dst,
                    struct pxf_error *err)
{
        mode_t mode;

        if (bld_guest_is_dir(gs, dst)) {
                if (!d->has_merged_dir_permissions)
                        return 0;
                return bld_guest_chmod(gs, dst, d->merged_dir_permissions, err);
        }
        mode = d->has_new_dir_permissions ? d->new_dir_permissions : 0755;
        return bld_guest_mkdir_p(gs, dst, mode, err);
}

static int copy_entry(struct bld_guest *gs, const struct cfg_dir *d, const char *src,
                      const char *dst, unsigned depth, struct pxf_error *err)
{
        struct stat st;

        if (lstat(src, &st) < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", src);
        if (S_ISDIR(st.st_mode))
                return copy_tree(gs, d, src, dst, depth + 1, err);
        if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlink(src, target, sizeof target - 1);
                if (n < 0)
                        return pxf_error_set(err, -errno, "cannot read link '%s': %m", src);
                target[n] = '\0';
                return bld_guest_symlink(gs, target, dst, err);
        }
        if (!S_ISREG(st.st_mode))
                return pxf_error_set(err, -EINVAL, "'%s' is not a file, directory or link", src);
        return bld_guest_upload(
            gs, src, dst,
            d->has_child_file_permissions ? d->child_file_permissions : (st.st_mode & 07777), err);
}

static int copy_tree(struct bld_guest *gs, const struct cfg_dir *d, const char *src,
                     const char *dst, unsigned depth, struct pxf_error *err)
{
        DIR *dir;
        struct dirent *de;
        int r;

        if (depth > DIR_DEPTH_MAX)
                return pxf_error_set(err, -ELOOP, "'%s' is nested too deeply", src);
        r = make_dir(gs, d, dst, err);
        if (r < 0)
                return r;
        dir = opendir(src);
        if (!dir)
                return pxf_error_set(err, -errno, "cannot open directory '%s': %m", src);
        while (r >= 0 && (de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                _cleanup_free_ char *s = pxf_asprintf("%s/%s", src, de->d_name);
                _cleanup_free_ char *t = pxf_asprintf("%s/%s", dst, de->d_name);
                r = copy_entry(gs, d, s, t, depth, err);
        }
        (void)closedir(dir);
        return r;
}

static int dirs_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct cfg_os *os = &cfg->os;
        for (size_t i = 0; i < os->n_additional_dirs; i++) {
                const struct cfg_dir *d = &os->additional_dirs[i];
                int r = ensure_parent(gs, d->destination, err);
                if (r >= 0)
                        r = copy_tree(gs, d, d->source, d->destination, 0, err);
                if (r < 0)
                        return pxf_error_prefix(err, "os.additionalDirs[%zu] (%s)", i,
                                                d->destination);
        }
        return 0;
}

static bool dirs_wanted(const struct cfg_config *cfg)
{
        return cfg->os.n_additional_dirs > 0;
}

static bool files_wanted(const struct cfg_config *cfg)
{
        return cfg->os.n_additional_files > 0;
}

const struct bld_step bld_step_dirs = {"additional directories", dirs_wanted, dirs_apply};
const struct bld_step bld_step_files = {"additional files", files_wanted, files_apply};
