/* The builder's guest operations on an exported tree (builder/tree.c), the way live
 * builds use them: every path resolves inside the tree as in a chroot, symlinks the
 * guest planted never lead out of it, and programs see what the operations wrote. The
 * tree sits beside an "outside" folder that stands for the host. Needs root (container). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/builder-internal.h"
#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

struct fixture {
        char *dir;
        char tree[PATH_MAX], outside[PATH_MAX];
        struct bld_guest gs;
};

static int setup(void **state)
{
        struct fixture *f = pxf_calloc(1, sizeof *f);
        struct pxf_error err = {0};

        f->dir = tt_make("tree");
        tt_path(f->tree, sizeof f->tree, f->dir, "tree");
        tt_path(f->outside, sizeof f->outside, f->dir, "outside");
        tt_make_os_tree(f->tree);
        tt_write_text(f->dir, "outside/secret", "host data\n", 0600);
        tt_write_text(f->tree, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
        /* What a hostile image could hold: links that point at the host's paths. */
        tt_symlink(f->tree, "etc/abs-passwd", "/etc/passwd");
        tt_symlink(f->tree, "etc/climb", "../../../../../../outside/secret");
        tt_symlink(f->tree, "host-dir", f->outside);
        f->gs = (struct bld_guest){.tree_fd = -1};
        assert_int_equal(bld_tree_attach(&f->gs, f->tree, false, &err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        bld_guest_abort(&f->gs);
        tt_remove(f->dir);
        free(f);
        return 0;
}

static void symlinks_resolve_inside_the_tree(void **state)
{
        struct fixture *f = *state;
        struct pxf_error err = {0};
        _cleanup_free_ char *text = NULL, *secret = NULL;

        assert_int_equal(bld_guest_read(&f->gs, "/etc/abs-passwd", 4096, &text, &err), 0);
        assert_string_equal(text, "root:x:0:0::/root:/bin/sh\n"); /* the tree's, not ours */
        /* ../ stops at the tree's root, where there is no outside/secret */
        assert_int_equal(bld_guest_read(&f->gs, "/etc/climb", 4096, &secret, &err), -ENOENT);
        assert_false(bld_guest_exists(&f->gs, "/host-dir/secret"));
}

static void writes_through_links_land_in_the_tree(void **state)
{
        struct fixture *f = *state;
        struct pxf_error err = {0};
        _cleanup_free_ char *secret = NULL, *planted = NULL;

        assert_int_equal(bld_guest_mkdir_p(&f->gs, "/outside", 0755, &err), 0);
        assert_int_equal(bld_guest_write(&f->gs, "/etc/climb", "guest\n", 6, 0644, &err), 0);
        secret = tt_read(f->dir, "outside/secret");
        assert_string_equal(secret, "host data\n");
        planted = tt_read(f->tree, "outside/secret");
        assert_string_equal(planted, "guest\n");
        /* the link's target is looked up in the tree, where it does not exist */
        assert_true(bld_guest_mkdir_p(&f->gs, "/host-dir/sub/deeper", 0700, &err) < 0);
        assert_false(tt_exists(f->dir, "outside/sub"));
}

static void remove_and_chown_act_on_the_link(void **state)
{
        struct fixture *f = *state;
        struct pxf_error err = {0};
        char secret[PATH_MAX];
        struct stat st;

        tt_path(secret, sizeof secret, f->dir, "outside/secret");
        assert_int_equal(bld_guest_chown(&f->gs, "/host-dir", 1234, 1234, &err), 0);
        assert_int_equal(stat(f->outside, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(bld_guest_remove(&f->gs, "/host-dir", &err), 0);
        assert_false(tt_exists(f->tree, "host-dir"));
        assert_int_equal(stat(secret, &st), 0);
        assert_int_equal(bld_guest_remove(&f->gs, "/etc", &err), 0); /* a folder, recursively */
        assert_false(tt_exists(f->tree, "etc"));
        assert_int_equal(bld_guest_remove(&f->gs, "/no/such/file", &err), 0);
}

/* liveRoot.omit: the files go, each package's copyright and the files at the top of
 * /usr/share/locale stay, and a link planted in /usr/share/doc is removed, not followed. */
static void live_root_cuts(void **state)
{
        struct fixture *f = *state;
        struct pxf_error err = {0};
        struct cfg_config cfg = {.live_root_omit = CFG_OMIT_DOCUMENTATION | CFG_OMIT_LOCALES};

        tt_write_text(f->tree, "usr/share/doc/curl/copyright", "license\n", 0644);
        tt_write_text(f->tree, "usr/share/doc/curl/changelog.gz", "x", 0644);
        tt_write_text(f->tree, "usr/share/doc/curl/examples/a.c", "x", 0644);
        tt_symlink(f->tree, "usr/share/doc/libcurl4", "/etc");
        tt_write_text(f->tree, "usr/share/locale/locale.alias", "x", 0644);
        tt_write_text(f->tree, "usr/share/locale/de/LC_MESSAGES/curl.mo", "x", 0644);
        tt_write_text(f->tree, "usr/share/man/man1/curl.1.gz", "x", 0644);
        assert_true(bld_step_live_root.wanted(&cfg));
        assert_int_equal(bld_step_live_root.apply(&f->gs, &cfg, &err), 0);
        assert_true(tt_exists(f->tree, "usr/share/doc/curl/copyright"));
        assert_false(tt_exists(f->tree, "usr/share/doc/curl/changelog.gz"));
        assert_false(tt_exists(f->tree, "usr/share/doc/curl/examples"));
        assert_false(tt_exists(f->tree, "usr/share/doc/libcurl4"));
        assert_true(tt_exists(f->tree, "etc/passwd"));
        assert_true(tt_exists(f->tree, "usr/share/locale/locale.alias"));
        assert_false(tt_exists(f->tree, "usr/share/locale/de"));
        assert_true(tt_exists(f->tree, "usr/share/man/man1/curl.1.gz")); /* not asked for */
        cfg.live_root_omit = CFG_OMIT_MAN_PAGES;
        assert_int_equal(bld_step_live_root.apply(&f->gs, &cfg, &err), 0);
        assert_false(tt_exists(f->tree, "usr/share/man/man1"));
        assert_true(tt_exists(f->tree, "usr/share/man"));
        cfg.live_root_omit = 0;
        assert_false(bld_step_live_root.wanted(&cfg));
}

static void programs_see_what_was_written(void **state)
{
        struct fixture *f = *state;
        struct pxf_error err = {0};
        _cleanup_free_ char *out = NULL, *left = NULL;
        const char *argv[] = {"/bin/sh", "-c",
                              "read h < /etc/hostname; echo \"$h\" > /tmp/seen; echo \"$h\"", NULL};

        assert_int_equal(bld_guest_write(&f->gs, "/etc/hostname", "lab-node\n", 9, 0644, &err), 0);
        assert_int_equal(bld_guest_capture(&f->gs, argv, &out, &err), 0);
        assert_string_equal(out, "lab-node\n");
        left = tt_read(f->tree, "tmp/seen");
        assert_string_equal(left, "lab-node\n");
}

static void a_failing_program_says_why(void **state)
{
        struct fixture *f = *state;
        struct pxf_error err = {0};
        const char *argv[] = {"/bin/sh", "-c",
                              "echo 'E: Unable to locate package nope' >&2; exit 100", NULL};

        assert_int_equal(bld_guest_run(&f->gs, argv, &err), -ECHILD);
        assert_non_null(strstr(err.msg, "exited with status 100"));
        assert_non_null(strstr(err.msg, "Unable to locate package nope"));
}

static void downloads_are_shared_by_hard_link(void **state)
{
        struct fixture *f = *state;
        char host[PATH_MAX];

        tt_path(host, sizeof host, f->dir, "packages");
        tt_write_text(f->dir, "packages/old_1.0_amd64.deb", "old\n", 0644);
        tt_mkdir(f->tree, "var/cache/apt/archives", 0755);
        assert_int_equal(bld_tree_share(&f->gs, host, "/var/cache/apt/archives", ".deb", true), 1);
        assert_true(tt_exists(f->tree, "var/cache/apt/archives/old_1.0_amd64.deb"));

        tt_write_text(f->tree, "var/cache/apt/archives/new_2.0_amd64.deb", "new\n", 0644);
        tt_symlink(f->tree, "var/cache/apt/archives/planted.deb", "/etc/shadow");
        tt_write_text(f->tree, "var/cache/apt/archives/lock", "", 0640);
        assert_int_equal(bld_tree_share(&f->gs, host, "/var/cache/apt/archives", ".deb", false), 1);
        assert_true(tt_exists(f->dir, "packages/new_2.0_amd64.deb"));
        assert_false(tt_exists(f->dir, "packages/planted.deb")); /* links stay in the tree */
        assert_false(tt_exists(f->dir, "packages/lock"));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(symlinks_resolve_inside_the_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(writes_through_links_land_in_the_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(remove_and_chown_act_on_the_link, setup, teardown),
            cmocka_unit_test_setup_teardown(live_root_cuts, setup, teardown),
            cmocka_unit_test_setup_teardown(programs_see_what_was_written, setup, teardown),
            cmocka_unit_test_setup_teardown(a_failing_program_says_why, setup, teardown),
            cmocka_unit_test_setup_teardown(downloads_are_shared_by_hard_link, setup, teardown),
        };

        return pxf_test_main(tests, argc, argv);
}
