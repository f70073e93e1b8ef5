/* temp-tree.h - scratch folders for unit tests, and files made in them.
 *
 * Every helper asserts (cmocka) instead of returning an error: a fixture that cannot be
 * built is a failed test. Paths are DIR/REL; modes are set exactly (chmod after create,
 * so the umask does not matter); missing parent folders are made with 0755. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The scratch space most writer tests need: a folder, a tree to write from (not created)
 * and an output path, both inside it. */
struct tt_work {
        char *dir;
        char tree[128];
        char out[128];
};

/* A new tt_work named NAME with dir/TREE and dir/OUT; tt_work_free removes it all. */
struct tt_work *tt_work_new(const char *name, const char *tree, const char *out);
void tt_work_free(struct tt_work *w);

/* A new folder /tmp/pxf-test-NAME-XXXXXX; the caller frees it with tt_remove. */
char *tt_make(const char *name);
/* Removes the folder and everything in it, and frees the path. NULL is fine. */
void tt_remove(char *dir);

void tt_path(char *buf, size_t size, const char *dir, const char *rel);
void tt_mkdir(const char *dir, const char *rel, mode_t mode);
void tt_write(const char *dir, const char *rel, const void *data, size_t len, mode_t mode);
void tt_write_text(const char *dir, const char *rel, const char *text, mode_t mode);
void tt_symlink(const char *dir, const char *rel, const char *target);
bool tt_exists(const char *dir, const char *rel);
/* The file's contents as a string; the caller frees it. */
char *tt_read(const char *dir, const char *rel);
/* Copies the host file at the absolute host_path to dir/host_path (mode 0755). */
void tt_copy_in(const char *dir, const char *host_path);
/* Makes dir a tiny OS tree for container tests: /bin/sh with the C library it needs, and
 * the folders the container mounts on (proc, dev, sys, run) plus tmp and etc. */
void tt_make_os_tree(const char *dir);
