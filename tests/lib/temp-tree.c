/* See temp-tree.h. */
#include "tests/lib/temp-tree.h"

#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "tests/lib/test-main.h"

char *tt_make(const char *name)
{
        char *dir = NULL;

        assert_true(asprintf(&dir, "/tmp/pxf-test-%s-XXXXXX", name) > 0);
        assert_non_null(mkdtemp(dir));
        return dir;
}

void tt_remove(char *dir)
{
        if (!dir)
                return;
        (void)pxf_rm_rf(dir);
        free(dir);
}

struct tt_work *tt_work_new(const char *name, const char *tree, const char *out)
{
        struct tt_work *w = pxf_calloc(1, sizeof(*w));

        w->dir = tt_make(name);
        tt_path(w->tree, sizeof w->tree, w->dir, tree);
        tt_path(w->out, sizeof w->out, w->dir, out);
        return w;
}

void tt_work_free(struct tt_work *w)
{
        if (!w)
                return;
        tt_remove(w->dir);
        free(w);
}

void tt_path(char *buf, size_t size, const char *dir, const char *rel)
{
        int n = snprintf(buf, size, "%s/%s", dir, rel);

        assert_true(n > 0 && (size_t)n < size);
}

static void make_parent(const char *path)
{
        _cleanup_free_ char *parent = pxf_dirname(path);

        assert_int_equal(pxf_mkdir_p(parent, 0755), 0);
}

void tt_mkdir(const char *dir, const char *rel, mode_t mode)
{
        char p[PATH_MAX];

        tt_path(p, sizeof p, dir, rel);
        make_parent(p);
        assert_int_equal(mkdir(p, mode), 0);
        assert_int_equal(chmod(p, mode), 0);
}

void tt_write(const char *dir, const char *rel, const void *data, size_t len, mode_t mode)
{
        char p[PATH_MAX];
        int fd;

        tt_path(p, sizeof p, dir, rel);
        make_parent(p);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(pxf_write_all(fd, data, len), 0);
        assert_int_equal(close(fd), 0);
        assert_int_equal(chmod(p, mode), 0);
}

void tt_write_text(const char *dir, const char *rel, const char *text, mode_t mode)
{
        tt_write(dir, rel, text, strlen(text), mode);
}

void tt_symlink(const char *dir, const char *rel, const char *target)
{
        char p[PATH_MAX];

        tt_path(p, sizeof p, dir, rel);
        make_parent(p);
        assert_int_equal(symlink(target, p), 0);
}

bool tt_exists(const char *dir, const char *rel)
{
        char p[PATH_MAX];
        struct stat st;

        tt_path(p, sizeof p, dir, rel);
        return lstat(p, &st) == 0;
}

char *tt_read(const char *dir, const char *rel)
{
        char p[PATH_MAX];
        char *text = NULL;

        tt_path(p, sizeof p, dir, rel);
        assert_int_equal(pxf_read_file(p, 64 * 1024 * 1024, &text, NULL), 0);
        return text;
}

void tt_copy_in(const char *dir, const char *host_path)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;

        assert_int_equal(pxf_read_file(host_path, 64 * 1024 * 1024, &data, &len), 0);
        tt_write(dir, host_path + 1, data, len, 0755);
}

/* The C library and the loader this test runs with, which /bin/sh needs too. */
static int copy_libc(struct dl_phdr_info *info, size_t size, void *dir)
{
        (void)size;
        if (info->dlpi_name[0] == '/' &&
            (strstr(info->dlpi_name, "/libc.so") || strstr(info->dlpi_name, "/ld-linux")))
                tt_copy_in(dir, info->dlpi_name);
        return 0;
}

void tt_make_os_tree(const char *dir)
{
        static const char *const mount_points[] = {"proc", "dev", "sys", "run", "tmp", "etc"};

        for (size_t i = 0; i < PXF_ELEMENTSOF(mount_points); i++)
                tt_mkdir(dir, mount_points[i], 0755);
        tt_copy_in(dir, "/bin/sh");
        (void)dl_iterate_phdr(copy_libc, (void *)dir);
}
