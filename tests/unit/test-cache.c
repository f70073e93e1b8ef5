/* The build cache (cache/cache.h): keys that change with every part and only then,
 * entries that come back byte for byte, damaged or half-written entries that are never
 * used, and eviction of what was used longest ago. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/cache.h"
#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

struct fixture {
        char *dir;
        char cache_dir[PATH_MAX];
        struct cache *cache;
};

static int setup(void **state)
{
        struct fixture *f = pxf_calloc(1, sizeof *f);
        struct pxf_error err = {0};

        f->dir = tt_make("cache");
        tt_path(f->cache_dir, sizeof f->cache_dir, f->dir, "cache");
        assert_int_equal(cache_open(f->cache_dir, 3000, &f->cache, &err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        cache_close(f->cache);
        tt_remove(f->dir);
        free(f);
        return 0;
}

static void key_of(const char *a, const char *b, char hex[CACHE_KEY_HEX + 1])
{
        struct cache_key *k = cache_key_new("test");

        cache_key_add(k, a, b);
        cache_key_finish(k, hex);
}

static void key_of_file(const char *path, char hex[CACHE_KEY_HEX + 1])
{
        struct cache_key *k = cache_key_new("test");
        struct pxf_error err = {0};

        assert_int_equal(cache_key_add_file(k, "input", path, &err), 0);
        cache_key_finish(k, hex);
}

static void keys_change_with_every_part(void **state)
{
        struct fixture *f = *state;
        char a[CACHE_KEY_HEX + 1], b[CACHE_KEY_HEX + 1], folder[PATH_MAX];

        key_of("ab", "c", a);
        key_of("a", "bc", b);
        assert_string_not_equal(a, b);
        key_of("a", "bc", a);
        assert_string_equal(a, b);
        key_of("a", NULL, a);
        key_of("a", "", b);
        assert_string_not_equal(a, b);

        tt_write_text(f->dir, "src/file", "one\n", 0644);
        tt_symlink(f->dir, "src/link", "file");
        tt_path(folder, sizeof folder, f->dir, "src");
        key_of_file(folder, a);
        key_of_file(folder, b);
        assert_string_equal(a, b);
        tt_write_text(f->dir, "src/file", "two\n", 0644); /* contents */
        key_of_file(folder, b);
        assert_string_not_equal(a, b);
        tt_write_text(f->dir, "src/file", "one\n", 0755); /* mode */
        key_of_file(folder, b);
        assert_string_not_equal(a, b);
        tt_write_text(f->dir, "src/file", "one\n", 0644);
        key_of_file(folder, b);
        assert_string_equal(a, b);
}

/* Stores text under a key named by seed; returns the key in hex. */
static void store_text(struct fixture *f, const char *seed, const char *text,
                       char hex[CACHE_KEY_HEX + 1])
{
        struct pxf_error err = {0};
        char src[PATH_MAX];

        key_of("seed", seed, hex);
        tt_write_text(f->dir, "src-file", text, 0644);
        tt_path(src, sizeof src, f->dir, "src-file");
        assert_int_equal(cache_store(f->cache, hex, src, &err), 0);
        assert_int_equal(unlink(src), 0);
}

static int fetch(struct fixture *f, const char *key, const char *name)
{
        struct pxf_error err = {0};
        char dest[PATH_MAX];

        tt_path(dest, sizeof dest, f->dir, name);
        return cache_fetch(f->cache, key, dest, &err);
}

static void an_entry_comes_back_as_stored(void **state)
{
        struct fixture *f = *state;
        char key[CACHE_KEY_HEX + 1], other[CACHE_KEY_HEX + 1];
        _cleanup_free_ char *back = NULL;

        store_text(f, "a", "the squashfs\n", key);
        assert_int_equal(fetch(f, key, "back"), 1);
        back = tt_read(f->dir, "back");
        assert_string_equal(back, "the squashfs\n");
        key_of("seed", "never stored", other);
        assert_int_equal(fetch(f, other, "none"), 0);
        assert_false(tt_exists(f->dir, "none"));
}

static void a_damaged_entry_is_never_used(void **state)
{
        struct fixture *f = *state;
        char key[CACHE_KEY_HEX + 1], entry[PATH_MAX], rel[CACHE_KEY_HEX + 16];
        int fd;

        store_text(f, "a", "the squashfs\n", key);
        (void)snprintf(rel, sizeof rel, "cache/%s", key);
        tt_path(entry, sizeof entry, f->dir, rel);
        fd = open(entry, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "T", 1, 0), 1); /* one byte flipped in place */
        assert_int_equal(close(fd), 0);
        assert_int_equal(fetch(f, key, "back"), 0);
        assert_false(tt_exists(f->dir, "back"));
        assert_false(tt_exists(f->dir, rel)); /* removed, to be made again */

        store_text(f, "b", "the initrd\n", key);
        (void)snprintf(rel, sizeof rel, "cache/%s.sha256", key);
        tt_path(entry, sizeof entry, f->dir, rel);
        assert_int_equal(truncate(entry, 10), 0); /* a cut checksum */
        assert_int_equal(fetch(f, key, "back"), 0);
}

static void a_store_killed_half_way_leaves_no_entry(void **state)
{
        struct fixture *f = *state;
        char key[CACHE_KEY_HEX + 1], rel[CACHE_KEY_HEX + 32];

        key_of("seed", "killed", key);
        /* what a store killed before its renames leaves: scratch files only */
        (void)snprintf(rel, sizeof rel, "cache/.store-%s", key);
        tt_write_text(f->dir, rel, "half of it", 0644);
        assert_int_equal(fetch(f, key, "back"), 0);
        store_text(f, "another", "x\n", key);
        assert_false(tt_exists(f->dir, rel)); /* cleared by the next store */
}

static void the_longest_unused_entries_go_first(void **state)
{
        struct fixture *f = *state;
        char first[CACHE_KEY_HEX + 1], second[CACHE_KEY_HEX + 1], third[CACHE_KEY_HEX + 1];
        char fourth[CACHE_KEY_HEX + 1];
        char big[1001];

        memset(big, 'x', 1000);
        big[1000] = '\0';
        store_text(f, "1", big, first);
        usleep(20 * 1000);
        store_text(f, "2", big, second);
        usleep(20 * 1000);
        store_text(f, "3", big, third);
        usleep(20 * 1000);
        assert_int_equal(fetch(f, first, "used"), 1); /* now the most recently used */
        usleep(20 * 1000);
        store_text(f, "4", big, fourth); /* 4000 bytes against a bound of 3000 */
        assert_true(cache_size(f->cache) <= 3000);
        assert_int_equal(fetch(f, second, "gone"), 0);
        assert_int_equal(fetch(f, first, "kept1"), 1);
        assert_int_equal(fetch(f, third, "kept3"), 1);
        assert_int_equal(fetch(f, fourth, "kept4"), 1);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(keys_change_with_every_part, setup, teardown),
            cmocka_unit_test_setup_teardown(an_entry_comes_back_as_stored, setup, teardown),
            cmocka_unit_test_setup_teardown(a_damaged_entry_is_never_used, setup, teardown),
            cmocka_unit_test_setup_teardown(a_store_killed_half_way_leaves_no_entry, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(the_longest_unused_entries_go_first, setup, teardown),
        };

        return pxf_test_main(tests, argc, argv);
}
