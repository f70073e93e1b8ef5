/* No accepted key without an effect: walks the config schema and fails for any key the
 * loader accepts whose C member no code outside config/ reads (the builder, the artifacts,
 * the commands and servers). A key the schema only checks, as os.selinux.mode once was,
 * fails here. Runs in tests/unit (CTest's working directory): the sources are at ../..
 *
 * A member counts as read where the source writes "->member" or ".member" followed by
 * something that cannot continue the name. The servers' limits are the exception: they
 * are copied field by field through the TFTPD_LIMITS and HTTPD_LIMITS lists, so those
 * lists must be expanded by the code that hands them to the servers. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include "common/common.h"
#include "config/config-internal.h"

/* Where the effects of a config live. */
static const char *const effect_dirs[] = {"../../builder", "../../artifacts", "../../pxeforge",
                                          "../../cache"};

/* The text of every .c file of the effect folders, one string. */
static char *read_sources(void)
{
        char *all = pxf_strdup("");

        for (size_t d = 0; d < PXF_ELEMENTSOF(effect_dirs); d++) {
                DIR *dir = opendir(effect_dirs[d]);
                struct dirent *e;

                assert_non_null(dir);
                while ((e = readdir(dir))) {
                        _cleanup_free_ char *path = NULL, *text = NULL;
                        char *next;

                        if (!pxf_has_suffix(e->d_name, ".c"))
                                continue;
                        path = pxf_asprintf("%s/%s", effect_dirs[d], e->d_name);
                        assert_int_equal(pxf_read_file(path, 4u << 20, &text, NULL), 0);
                        next = pxf_asprintf("%s\n%s", all, text);
                        free(all);
                        all = next;
                }
                closedir(dir);
        }
        return all;
}

static bool is_name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
}

static bool member_read(const char *sources, const char *member)
{
        size_t len = strlen(member);

        for (const char *p = strstr(sources, member); p; p = strstr(p + 1, member)) {
                bool after_access = (p > sources + 1 && p[-1] == '.') ||
                                    (p > sources + 1 && p[-1] == '>' && p[-2] == '-');

                if (after_access && !is_name_char(p[len]))
                        return true;
        }
        return false;
}

struct walk_state {
        const char *sources;
        unsigned checked;
        unsigned unread;
};

static void walk_schema(struct walk_state *st, const struct schema *s, const char *prefix,
                        bool limits)
{
        for (size_t i = 0; i < s->n_fields; i++) {
                const struct field *f = &s->fields[i];
                _cleanup_free_ char *path =
                    prefix[0] ? pxf_asprintf("%s.%s", prefix, f->key) : pxf_strdup(f->key);
                bool in_limits =
                    limits || strcmp(path, "server.tftp") == 0 || strcmp(path, "server.http") == 0;

                if (f->c_member && !in_limits) {
                        /* "live. initramfs_type": the member of a nested structure */
                        const char *member = f->c_member + strcspn(f->c_member, ". ");
                        member = *member ? member + strspn(member, ". ") : f->c_member;
                        st->checked++;
                        if (!member_read(st->sources, member)) {
                                print_message("%s (member %s) is accepted and never read\n", path,
                                              f->c_member);
                                st->unread++;
                        }
                }
                if (f->sub)
                        walk_schema(st, f->sub, path, in_limits);
        }
}

static void every_key_has_an_effect(void **state)
{
        _cleanup_free_ char *sources = read_sources();
        struct walk_state st = {.sources = sources};

        (void)state;
        walk_schema(&st, &cfg_schema_root, "", false);
        assert_true(st.checked > 50); /* the walk saw the schema */
        assert_int_equal(st.unread, 0);
        /* the servers' limits reach them through their lists */
        assert_non_null(strstr(sources, "TFTPD_LIMITS(TFTP_DEFAULT)"));
        assert_non_null(strstr(sources, "HTTPD_LIMITS(HTTP_DEFAULT)"));
}

/* The test itself can fail: a member nothing reads is reported. */
static void an_unread_member_is_found(void **state)
{
        (void)state;
        assert_false(member_read("x = cfg->os.hostname_x; y.hostnamey", "hostname"));
        assert_true(member_read("if (cfg->os.hostname)", "hostname"));
        assert_true(member_read("a.hostname;", "hostname"));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(every_key_has_an_effect),
            cmocka_unit_test(an_unread_member_is_found),
        };

        return pxf_test_main(tests, argc, argv);
}
