#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/common.h"

int pxf_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        return fd < 0 ? -errno : pxf_read_fd(fd, max, ret, ret_len);
}

int pxf_read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((size_t)st.st_size > max)
                return -EFBIG;
        buf = pxf_calloc((size_t)st.st_size + 1, 1);
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int pxf_mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = pxf_strdup(path);

        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        if (type == FTW_DP)
                return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
        return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int pxf_rm_rf(const char *path)
{
        struct stat st;
        int r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        r = nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        return r > 0 ? -EIO : r;
}

char *pxf_path_resolve(const char *base_dir, const char *path)
{
        if (!path)
                return NULL;
        if (path[0] == '/' || !base_dir || !base_dir[0])
                return pxf_strdup(path);
        return pxf_asprintf("%s/%s", base_dir, path);
}

char *pxf_dirname(const char *path)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                return pxf_strdup(".");
        if (slash == path)
                return pxf_strdup("/");
        return strndup(path, (size_t)(slash - path));
}

static int fsync_path(const char *path, int flags)
{
        _cleanup_close_ int fd = open(path, flags | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

int pxf_publish_file(const char *tmp, const char *dst)
{
        _cleanup_free_ char *dir = pxf_dirname(dst);
        int r;

        r = fsync_path(tmp, O_RDONLY);
        if (r < 0)
                return r;
        if (rename(tmp, dst) < 0)
                return -errno;
        return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

int pxf_write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;

        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                if (w == 0)
                        return -EIO;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int pxf_open_partial(const char *dst, mode_t mode, char **ret_partial, struct pxf_error *err)
{
        _cleanup_free_ char *partial = pxf_asprintf("%s.partial", dst);
        _cleanup_close_ int fd = -1;

        fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot create '%s': %m", partial);
        if (fchmod(fd, mode) < 0) {
                int r = pxf_error_set(err, -errno, "cannot set the mode of '%s': %m", partial);
                (void)unlink(partial);
                return r;
        }
        *ret_partial = TAKE_PTR(partial);
        return TAKE_FD(fd);
}

int pxf_write_file_atomic(const char *dst, const void *data, size_t len, mode_t mode,
                          struct pxf_error *err)
{
        _cleanup_free_ char *partial = NULL;
        int fd = pxf_open_partial(dst, mode, &partial, err);
        int r;

        if (fd < 0)
                return fd;
        r = pxf_write_all(fd, data, len);
        if (r < 0)
                pxf_error_set(err, r, "cannot write '%s': %s", partial, strerror(-r));
        return pxf_finish_partial(fd, partial, dst, r, err);
}

int pxf_finish_partial(int fd, const char *tmp, const char *dst, int r, struct pxf_error *err)
{
        if (close(fd) < 0 && r >= 0)
                r = pxf_error_set(err, -errno, "cannot write '%s': %m", tmp);
        if (r >= 0) {
                r = pxf_publish_file(tmp, dst);
                if (r < 0)
                        pxf_error_set(err, r, "cannot move '%s' into place: %s", dst, strerror(-r));
        }
        if (r < 0)
                (void)unlink(tmp);
        return r < 0 ? r : 0;
}

static int openat2_fd(int dir_fd, const char *path, uint64_t flags, uint64_t resolve)
{
        struct open_how how = {.flags = flags, .resolve = resolve};
        int fd = (int)syscall(SYS_openat2, dir_fd, path, &how, sizeof how);

        return fd < 0 ? -errno : fd;
}

/* What no server hands out, whatever the protocol: hidden files and folders (a component
 * that starts with '.': .git, a build's scratch) and files still being written
 * (NAME.partial, pxf_open_partial). */
static bool never_served(const char *path)
{
        static const char partial[] = ".partial";
        size_t len = strlen(path);

        for (const char *c = path; *c; c += strcspn(c, "/"), c += *c == '/') {
                size_t n = strcspn(c, "/");
                bool dots = (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
                if (n > 0 && c[0] == '.' && !dots)
                        return true;
        }
        return len >= sizeof partial - 1 && strcmp(path + len - (sizeof partial - 1), partial) == 0;
}

int pxf_open_beneath(const char *root, const char *path, struct stat *ret_st)
{
        _cleanup_close_ int dir_fd = -1, fd = -1;

        dir_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        fd = openat2_fd(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                        RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return fd;
        if (fstat(fd, ret_st) < 0)
                return -errno;
        if (!S_ISREG(ret_st->st_mode))
                return -EISDIR;
        /* After the kernel's checks, so that a way out is still -EXDEV. */
        if (never_served(path))
                return -ENOENT;
        return TAKE_FD(fd);
}

int pxf_check_beneath(const char *root)
{
        _cleanup_close_ int dir_fd = -1, fd = -1;

        dir_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return -errno;
        fd = openat2_fd(dir_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_BENEATH);
        return fd < 0 ? fd : 0;
}
