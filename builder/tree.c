/* The guest as an exported tree on the host, for live outputs: the customization steps
 * run here at native speed instead of in the appliance under emulation.
 *
 * The tree is guest data. Every path is resolved inside it as a chroot would resolve it
 * (openat2 RESOLVE_IN_ROOT: an absolute symlink or ".." stops at the tree's root), and no
 * file is followed out of it; programs run in the container of common/container.c with
 * the tree as their root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "builder/builder-internal.h"

#define CAPTURE_MAX (16u << 20) /* of a program's stdout kept for the caller */

static int open_in(const struct bld_guest *gs, const char *path, int flags, mode_t mode)
{
        struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                               .mode = (flags & O_CREAT) ? mode : 0,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        int fd = (int)syscall(SYS_openat2, gs->tree_fd, path, &how, sizeof how);

        return fd < 0 ? -errno : fd;
}

/* The folder that holds path's last component, and that component (never "", "." or
 * ".."), so the component itself is acted on, not what a symlink there points to. */
static int open_parent(const struct bld_guest *gs, const char *path, char *base, size_t size)
{
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        _cleanup_free_ char *dir = slash ? pxf_asprintf("%.*s", (int)(slash - path), path) : NULL;

        if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strlen(name) >= size)
                return -EINVAL;
        memcpy(base, name, strlen(name) + 1);
        return open_in(gs, dir && *dir ? dir : "/", O_PATH | O_DIRECTORY, 0);
}

static int fail(struct pxf_error *err, int r, const char *what, const char *path)
{
        return pxf_error_set(err, r, "cannot %s %s in the image: %s", what, path, strerror(-r));
}

int bld_tree_attach(struct bld_guest *gs, const char *tree, bool network, struct pxf_error *err)
{
        gs->tree_fd = open(tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (gs->tree_fd < 0)
                return pxf_error_set(err, -errno, "cannot open the exported tree '%s': %m", tree);
        gs->tree = pxf_strdup(tree);
        gs->network = network;
        return 0;
}

void bld_tree_detach(struct bld_guest *gs)
{
        if (gs->tree_fd >= 0)
                (void)close(gs->tree_fd);
        gs->tree_fd = -1;
        free(gs->tree);
        gs->tree = NULL;
}

static int read_capture(int fd, char **ret, struct pxf_error *err)
{
        off_t size = lseek(fd, 0, SEEK_END);
        ssize_t n;

        if (size < 0 || (uint64_t)size > CAPTURE_MAX)
                return pxf_error_set(err, size < 0 ? -errno : -EFBIG,
                                     "cannot keep the program's output (%lld bytes)",
                                     (long long)size);
        *ret = pxf_calloc((size_t)size + 1, 1);
        n = pread(fd, *ret, (size_t)size, 0);
        if (n != (ssize_t)size) {
                free(*ret);
                *ret = NULL;
                return pxf_error_set(err, -EIO, "cannot read the program's output");
        }
        return 0;
}

int bld_tree_run(struct bld_guest *gs, const char *const *argv, struct pxf_error *err)
{
        struct pxf_spawn_opts o = {
            .stdout_fd = -1, .container_root = gs->tree, .container_network = gs->network};

        log_debug("running in the image: %s", argv[0]);
        return pxf_spawn_run(argv, &o, err) < 0 ? pxf_error_prefix(err, "in the image") : 0;
}

int bld_tree_capture(struct bld_guest *gs, const char *const *argv, char **ret,
                     struct pxf_error *err)
{
        _cleanup_close_ int out = memfd_create("pxeforge-capture", MFD_CLOEXEC);
        struct pxf_spawn_opts o = {
            .stdout_fd = out, .container_root = gs->tree, .container_network = gs->network};
        int r;

        if (out < 0)
                return pxf_error_set(err, -errno, "cannot create a memfd: %m");
        log_debug("running in the image: %s", argv[0]);
        r = pxf_spawn_run(argv, &o, err);
        if (r < 0)
                return pxf_error_prefix(err, "in the image");
        return read_capture(out, ret, err);
}

int bld_tree_write(struct bld_guest *gs, const char *path, const char *data, size_t len,
                   mode_t mode, struct pxf_error *err)
{
        _cleanup_close_ int fd = open_in(gs, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        int r = fd;

        if (r >= 0)
                r = pxf_write_all(fd, data, len);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        return r < 0 ? fail(err, r, "write", path) : 0;
}

int bld_tree_read(struct bld_guest *gs, const char *path, size_t max, char **ret,
                  struct pxf_error *err)
{
        _cleanup_close_ int fd = open_in(gs, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        _cleanup_free_ char *proc = NULL;
        size_t len;
        int r;

        if (fd == -ENOENT)
                return -ENOENT;
        if (fd < 0)
                return fail(err, fd, "read", path);
        proc = pxf_asprintf("/proc/self/fd/%d", fd);
        r = pxf_read_file(proc, max, ret, &len);
        if (r == -EFBIG)
                return pxf_error_set(err, r, "%s in the image is larger than %zu bytes", path, max);
        return r < 0 ? fail(err, r, "read", path) : 0;
}

int bld_tree_mkdir_p(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err)
{
        _cleanup_free_ char *prefix = pxf_strdup(path);
        _cleanup_close_ int fd = -1;
        int r = 0;

        for (char *p = prefix + 1; r >= 0; p++) {
                char base[NAME_MAX + 1];
                bool last = *p == '\0';
                if (*p != '/' && !last)
                        continue;
                *p = '\0';
                _cleanup_close_ int parent = open_parent(gs, prefix, base, sizeof base);
                r = parent < 0                                           ? parent
                    : mkdirat(parent, base, 0755) < 0 && errno != EEXIST ? -errno
                                                                         : 0;
                if (last)
                        break;
                *p = '/';
        }
        if (r >= 0)
                fd = r = open_in(gs, path, O_RDONLY | O_DIRECTORY, 0);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        return r < 0 ? fail(err, r, "create directory", path) : 0;
}

int bld_tree_upload(struct bld_guest *gs, const char *host_path, const char *guest_path,
                    mode_t mode, struct pxf_error *err)
{
        _cleanup_close_ int in = open(host_path, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int out = -1;
        ssize_t n = 0;

        if (in < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", host_path);
        out = open_in(gs, guest_path, O_WRONLY | O_CREAT | O_TRUNC, mode);
        if (out < 0)
                return fail(err, out, "write", guest_path);
        while ((n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0)) > 0)
                ;
        if (n < 0 || fchmod(out, mode) < 0)
                return pxf_error_set(err, -errno, "cannot copy '%s' to %s in the image: %m",
                                     host_path, guest_path);
        return 0;
}

bool bld_tree_exists(struct bld_guest *gs, const char *path)
{
        _cleanup_close_ int fd = open_in(gs, path, O_PATH, 0);

        return fd >= 0;
}

/* A symlink to a folder is none, as for libguestfs's is_dir. */
bool bld_tree_is_dir(struct bld_guest *gs, const char *path)
{
        _cleanup_close_ int fd = open_in(gs, path, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);

        return fd >= 0;
}

int bld_tree_chmod(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err)
{
        _cleanup_close_ int fd = open_in(gs, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);

        if (fd < 0)
                return fail(err, fd, "set the mode of", path);
        return fchmod(fd, mode) < 0 ? fail(err, -errno, "set the mode of", path) : 0;
}

int bld_tree_symlink(struct bld_guest *gs, const char *target, const char *path,
                     struct pxf_error *err)
{
        char base[NAME_MAX + 1];
        _cleanup_close_ int parent = open_parent(gs, path, base, sizeof base);

        if (parent < 0)
                return fail(err, parent, "create link", path);
        if (unlinkat(parent, base, 0) < 0 && errno != ENOENT)
                return fail(err, -errno, "create link", path);
        return symlinkat(target, parent, base) < 0 ? fail(err, -errno, "create link", path) : 0;
}

char **bld_tree_ls(struct bld_guest *gs, const char *dir)
{
        int fd = open_in(gs, dir, O_RDONLY | O_DIRECTORY, 0);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        char **names = NULL;
        struct dirent *de;

        if (!d) {
                if (fd >= 0)
                        (void)close(fd);
                return NULL;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        pxf_strv_push(&names, de->d_name);
        (void)closedir(d);
        return names;
}

int bld_tree_remove(struct bld_guest *gs, const char *path, struct pxf_error *err)
{
        char base[NAME_MAX + 1];
        _cleanup_close_ int parent = open_parent(gs, path, base, sizeof base);
        _cleanup_free_ char *full = NULL;
        int r;

        if (parent == -ENOENT)
                return 0;
        if (parent < 0)
                return fail(err, parent, "remove", path);
        if (unlinkat(parent, base, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR)
                return fail(err, -errno, "remove", path);
        /* A folder: removed through the parent's descriptor, nothing followed inside. */
        full = pxf_asprintf("/proc/self/fd/%d/%s", parent, base);
        r = pxf_rm_rf(full);
        return r < 0 ? fail(err, r, "remove", path) : 0;
}

int bld_tree_chown(struct bld_guest *gs, const char *path, uid_t uid, gid_t gid,
                   struct pxf_error *err)
{
        char base[NAME_MAX + 1];
        _cleanup_close_ int parent = open_parent(gs, path, base, sizeof base);

        if (parent < 0)
                return fail(err, parent, "change the owner of", path);
        if (fchownat(parent, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(err, -errno, "change the owner of", path);
        return 0;
}

/* Hard links (copies across file systems) each regular NAME<suffix> of from_fd that to_fd
 * lacks; returns how many. Symlinks and other files are left alone. */
static unsigned share_files(int from_fd, int to_fd, const char *suffix)
{
        DIR *d = fdopendir(openat(from_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        unsigned n = 0;
        struct dirent *e;

        while (d && (e = readdir(d))) {
                struct stat st;
                if (!pxf_has_suffix(e->d_name, suffix) ||
                    fstatat(from_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || faccessat(to_fd, e->d_name, F_OK, 0) == 0)
                        continue;
                if (linkat(from_fd, e->d_name, to_fd, e->d_name, 0) == 0)
                        n++;
        }
        if (d)
                closedir(d);
        return n;
}

int bld_tree_share(struct bld_guest *gs, const char *host_dir, const char *guest_dir,
                   const char *suffix, bool into_tree)
{
        _cleanup_close_ int guest_fd = open_in(gs, guest_dir, O_RDONLY | O_DIRECTORY, 0);
        _cleanup_close_ int host_fd = -1;
        int r = pxf_mkdir_p(host_dir, 0755);

        if (r < 0 || guest_fd < 0)
                return r < 0 ? r : guest_fd;
        host_fd = open(host_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (host_fd < 0)
                return -errno;
        return (int)(into_tree ? share_files(host_fd, guest_fd, suffix)
                               : share_files(guest_fd, host_fd, suffix));
}
