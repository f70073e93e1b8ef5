/* Unit tests of the config API around the corpus: diag formatting, package lists, host
 * file checks, image format names and loader edge cases. The corpus itself is exercised
 * by test-config-corpus.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include "common/common.h"
#include "config/config.h"

/* ---- helpers ------------------------------------------------------------------------ */

static int tmpdir_setup(void **state)
{
        char *dir = pxf_strdup("/tmp/pxf-test-config-XXXXXX");

        if (!mkdtemp(dir)) {
                free(dir);
                return -1;
        }
        *state = dir;
        return 0;
}

static int tmpdir_teardown(void **state)
{
        int r = pxf_rm_rf(*state);

        free(*state);
        return r;
}

/* Writes dir/name, creating its parent directories. */
static void write_file(const char *dir, const char *name, const char *content)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, name);
        _cleanup_free_ char *parent = pxf_dirname(path);
        FILE *f;

        assert_int_equal(pxf_mkdir_p(parent, 0755), 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(content, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *dir, const char *name)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, name);

        assert_int_equal(pxf_mkdir_p(path, 0755), 0);
}

static char *format_at(const struct cfg_diags *d, size_t i)
{
        assert_true(i < d->n);
        return cfg_diag_format(&d->items[i]);
}

static void assert_diag(const struct cfg_diags *d, size_t i, const char *want)
{
        _cleanup_free_ char *got = format_at(d, i);

        assert_string_equal(got, want);
}

static int load_string(const char *text, const char *base_dir, struct cfg_config **ret,
                       struct cfg_diags *diags)
{
        return cfg_load_buffer("cfg.yaml", text, strlen(text), base_dir, ret, diags);
}

/* ---- diagnostics -------------------------------------------------------------------- */

static void diag_format_parts(void **state)
{
        struct cfg_diag d = {
            .file = "a.yaml", .line = 3, .column = 7, .key_path = "os.x", .message = "bad"};
        _cleanup_free_ char *full = NULL, *no_path = NULL, *no_line = NULL, *bare = NULL;

        (void)state;
        full = cfg_diag_format(&d);
        assert_string_equal(full, "a.yaml:3:7: os.x: bad");
        d.key_path = "";
        no_path = cfg_diag_format(&d);
        assert_string_equal(no_path, "a.yaml:3:7: bad");
        d.line = 0;
        d.key_path = NULL;
        no_line = cfg_diag_format(&d);
        assert_string_equal(no_line, "a.yaml: bad");
        d.key_path = "os";
        bare = cfg_diag_format(&d);
        assert_string_equal(bare, "a.yaml: os: bad");
}

static void diags_accumulate_and_clear(void **state)
{
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        (void)state;
        assert_int_equal(load_string("a: 1\n", NULL, &cfg, &diags), -EINVAL);
        assert_int_equal(load_string("os: []\nb: 2\n", NULL, &cfg, &diags), -EINVAL);
        assert_null(cfg);
        assert_int_equal(diags.n, 3);
        assert_diag(&diags, 0,
                    "cfg.yaml:1:1: a: unknown key 'a' "
                    "(expected one of: input, os, scripts, iso, pxe, server, liveRoot, output, "
                    "previewFeatures, baseConfigs)");
        assert_diag(&diags, 1, "cfg.yaml:1:5: os: expected a mapping, got a list");
        assert_diag(&diags, 2,
                    "cfg.yaml:2:1: b: unknown key 'b' "
                    "(expected one of: input, os, scripts, iso, pxe, server, liveRoot, output, "
                    "previewFeatures, baseConfigs)");
        cfg_diags_clear(&diags);
        assert_int_equal(diags.n, 0);
        assert_null(diags.items);
        cfg_diags_clear(&diags);
        cfg_diags_clear(NULL);
}

/* Diags come out in file order, whichever pass found them. */
static void diags_sorted(void **state)
{
        static const char text[] = "os:\n"
                                   "  selinux: {mode: enforcing}\n"
                                   "  hostname: x\n"
                                   "  hostname: y\n"
                                   "pxe: {initramfsType: full-os}\n";
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        (void)state;
        assert_int_equal(load_string(text, NULL, &cfg, &diags), -EINVAL);
        assert_int_equal(diags.n, 2);
        assert_diag(&diags, 0,
                    "cfg.yaml:2:19: os.selinux.mode: selinux mode 'enforcing' cannot be used "
                    "with pxe.initramfsType 'full-os' (a cpio initramfs carries no SELinux "
                    "labels); use initramfsType bootstrap or mode disabled");
        assert_diag(&diags, 1,
                    "cfg.yaml:4:3: os.hostname: duplicate key 'hostname' (first set "
                    "at line 3)");
        cfg_diags_clear(&diags);
}

/* ---- loading ------------------------------------------------------------------------ */

static void load_buffer_base_dir(void **state)
{
        static const char text[] = "input: {image: {path: in.qcow2}}\n"
                                   "output: {image: {path: /abs/out.raw, format: raw}}\n";
        struct cfg_config *cfg = NULL;

        (void)state;
        assert_int_equal(load_string(text, "/base", &cfg, NULL), 0);
        assert_string_equal(cfg->path, "cfg.yaml");
        assert_string_equal(cfg->dir, "/base");
        assert_string_equal(cfg->input_image_path, "/base/in.qcow2");
        assert_string_equal(cfg->output_image_path, "/abs/out.raw");
        assert_int_equal(cfg->output_image_format, CFG_FORMAT_RAW);
        cfg = cfg_free(cfg);
        assert_null(cfg);
        assert_int_equal(load_string(text, NULL, &cfg, NULL), 0);
        assert_string_equal(cfg->input_image_path, "in.qcow2");
        cfg_free(cfg);
}

/* The buffer is read up to len, not up to a NUL. */
/* The canonical text of text without the sections in skip (a new string). */
static char *canonical(const char *text, const char *const *skip)
{
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;
        char *out;

        assert_int_equal(load_string(text, NULL, &cfg, &diags), 0);
        out = cfg_canonical_text(cfg, skip);
        cfg_free(cfg);
        return out;
}

static void canonical_text_ignores_layout_not_meaning(void **state)
{
        static const char *const skip_pxe[] = {"pxe", NULL};
        (void)state;
        _cleanup_free_ char *a = canonical("os:\n  hostname: node # a comment\n"
                                           "pxe:\n  kernelCommandLine:\n"
                                           "    extraCommandLine: [quiet]\n",
                                           NULL);
        _cleanup_free_ char *b = canonical("# heading\nos: {hostname: node}\n\npxe:\n"
                                           "  kernelCommandLine: {extraCommandLine: [\n"
                                           "    quiet]}\n",
                                           NULL);
        _cleanup_free_ char *plain = canonical("os: {hostname: node}\n", NULL);
        _cleanup_free_ char *quoted = canonical("os: {hostname: 'node'}\n", NULL);
        _cleanup_free_ char *other =
            canonical("os: {hostname: node}\npxe:\n"
                      "  kernelCommandLine: {extraCommandLine: [splash]}\n",
                      skip_pxe);
        _cleanup_free_ char *without =
            canonical("os: {hostname: node}\npxe:\n"
                      "  kernelCommandLine: {extraCommandLine: [quiet]}\n",
                      skip_pxe);

        assert_string_equal(a, b);
        assert_string_equal(a, "os.hostname:p=node\n"
                               "pxe.kernelCommandLine.extraCommandLine[0]:p=quiet\n");
        assert_string_not_equal(plain, quoted);
        assert_string_equal(other, without); /* only the skipped section differs */
        assert_string_equal(without, "os.hostname:p=node\n");
}

static void record_path(const char *path, bool is_dir, struct cfg_loc loc, const char *key_path,
                        void *userdata)
{
        char *list = *(char **)userdata;

        (void)loc;
        *(char **)userdata = pxf_asprintf("%s%s %s%s\n", list ? list : "", key_path,
                                          strrchr(path, '/') + 1, is_dir ? "/" : "");
        free(list);
}

static void every_host_path_is_named(void **state)
{
        const char *dir = *state;
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;
        _cleanup_free_ char *list = NULL;

        assert_int_equal(load_string("os:\n  additionalFiles:\n    - {source: motd, destination: "
                                     "/etc/motd}\n  additionalDirs:\n    - {source: tree, "
                                     "destination: /opt}\nscripts:\n  postCustomization:\n"
                                     "    - path: setup.sh\n",
                                     dir, &cfg, &diags),
                         0);
        cfg_for_each_host_path(cfg, record_path, &list);
        assert_string_equal(list, "os.additionalFiles[0].source motd\n"
                                  "os.additionalDirs[0].source tree/\n"
                                  "scripts.postCustomization[0].path setup.sh\n");
        cfg_free(cfg);
}

static void load_buffer_length(void **state)
{
        static const char text[] = "os: {hostname: node}garbage: [";
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        (void)state;
        assert_int_equal(
            cfg_load_buffer(NULL, text, strlen("os: {hostname: node}"), NULL, &cfg, &diags), 0);
        assert_int_equal(diags.n, 0);
        assert_string_equal(cfg->os.hostname, "node");
        assert_string_equal(cfg->path, "<buffer>");
        cfg_free(cfg);
}

static void load_buffer_too_big(void **state)
{
        _cleanup_free_ char *buf = pxf_calloc(CFG_FILE_MAX + 2, 1);
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        (void)state;
        memset(buf, '#', CFG_FILE_MAX + 1);
        assert_int_equal(cfg_load_buffer("big.yaml", buf, CFG_FILE_MAX + 1, NULL, &cfg, &diags),
                         -EFBIG);
        assert_null(cfg);
        assert_int_equal(diags.n, 1);
        assert_diag(&diags, 0, "big.yaml: the file is larger than 1048576 bytes");
        cfg_diags_clear(&diags);
}

/* CFG_DEPTH_MAX nested containers are fine, one more is refused. */
static void load_depth_limit(void **state)
{
        char text[2 * CFG_DEPTH_MAX + 16];
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;
        size_t n = 0;

        (void)state;
        memcpy(text, "x: ", 3);
        n = 3;
        for (int i = 0; i < CFG_DEPTH_MAX - 1; i++)
                text[n++] = '[';
        for (int i = 0; i < CFG_DEPTH_MAX - 1; i++)
                text[n++] = ']';
        text[n] = '\0';
        assert_int_equal(load_string(text, NULL, &cfg, &diags), -EINVAL);
        assert_int_equal(diags.n, 1);
        assert_diag(&diags, 0,
                    "cfg.yaml:1:1: x: unknown key 'x' "
                    "(expected one of: input, os, scripts, iso, pxe, server, liveRoot, output, "
                    "previewFeatures, baseConfigs)");
        cfg_diags_clear(&diags);

        memmove(text + 4, text + 3, n - 2);
        text[3] = '[';
        text[n + 1] = ']';
        text[n + 2] = '\0';
        assert_int_equal(load_string(text, NULL, &cfg, &diags), -EINVAL);
        assert_int_equal(diags.n, 1);
        assert_true(strstr(diags.items[0].message, "nesting deeper than 32 levels"));
        assert_int_equal(diags.items[0].column, 4 + CFG_DEPTH_MAX - 1);
        cfg_diags_clear(&diags);
}

static void load_file_missing(void **state)
{
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        (void)state;
        assert_int_equal(cfg_load_file("/nonexistent/pxf.yaml", &cfg, &diags), -ENOENT);
        assert_null(cfg);
        assert_int_equal(diags.n, 1);
        assert_diag(&diags, 0,
                    "/nonexistent/pxf.yaml: cannot read the file: No such file or "
                    "directory");
        cfg_diags_clear(&diags);
        assert_int_equal(cfg_load_file("/nonexistent/pxf.yaml", &cfg, NULL), -ENOENT);
}

/* A config named by a relative path gets an absolute cfg->dir. */
static void load_file_relative(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *old = getcwd(NULL, 0), *cwd = NULL, *want = NULL;
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;
        int r;

        write_file(dir, "sub/c.yaml",
                   "os:\n  additionalFiles:\n"
                   "    - {source: ../f, destination: /f}\n");
        assert_int_equal(chdir(dir), 0);
        cwd = getcwd(NULL, 0);
        r = cfg_load_file("./sub/c.yaml", &cfg, &diags);
        assert_int_equal(chdir(old), 0);
        assert_int_equal(r, 0);
        want = pxf_asprintf("%s/sub", cwd);
        assert_string_equal(cfg->path, "./sub/c.yaml");
        assert_string_equal(cfg->dir, want);
        free(want);
        want = pxf_asprintf("%s/sub/../f", cwd);
        assert_string_equal(cfg->os.additional_files[0].source, want);
        assert_int_equal(cfg->os.additional_files[0].source_loc.line, 3);
        assert_int_equal(cfg->os.additional_files[0].source_loc.column, 16);
        cfg_free(cfg);
}

static void free_null(void **state)
{
        (void)state;
        assert_null(cfg_free(NULL));
}

/* ---- package lists ------------------------------------------------------------------ */

static void package_list_good(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *path = pxf_asprintf("%s/p.yaml", dir);
        _cleanup_strv_free_ char **list = NULL;
        struct cfg_diags diags = {0};

        write_file(dir, "p.yaml", "# comment\npackages:\n  - vim\n  - \"tmux\"\n");
        pxf_strv_push(&list, "first");
        assert_int_equal(cfg_load_package_list(path, &list, &diags), 0);
        assert_int_equal(diags.n, 0);
        assert_int_equal(pxf_strv_length(list), 3);
        assert_string_equal(list[0], "first");
        assert_string_equal(list[1], "vim");
        assert_string_equal(list[2], "tmux");
}

static void package_list_bad(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *path = pxf_asprintf("%s/p.yaml", dir);
        _cleanup_free_ char *want = NULL;
        _cleanup_strv_free_ char **list = NULL;
        struct cfg_diags diags = {0};

        write_file(dir, "p.yaml", "packages: [vim, {a: b}]\nextra: 1\npackages: []\n");
        assert_int_equal(cfg_load_package_list(path, &list, &diags), -EINVAL);
        assert_null(list);
        assert_int_equal(diags.n, 3);
        want = pxf_asprintf("%s:1:17: packages[1]: expected a string, got a mapping", path);
        assert_diag(&diags, 0, want);
        free(want);
        want = pxf_asprintf("%s:2:1: extra: unknown key 'extra' (expected one of: packages)", path);
        assert_diag(&diags, 1, want);
        free(want);
        want =
            pxf_asprintf("%s:3:1: packages: duplicate key 'packages' (first set at line 1)", path);
        assert_diag(&diags, 2, want);
        cfg_diags_clear(&diags);
}

static void package_list_missing_key(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *path = pxf_asprintf("%s/p.yaml", dir);
        _cleanup_free_ char *want = NULL;
        _cleanup_strv_free_ char **list = NULL;
        struct cfg_diags diags = {0};

        write_file(dir, "p.yaml", "\n  install: [a]\n");
        assert_int_equal(cfg_load_package_list(path, &list, &diags), -EINVAL);
        assert_int_equal(diags.n, 2);
        want = pxf_asprintf("%s:2:3: install: unknown key 'install' (expected one of: packages)",
                            path);
        assert_diag(&diags, 0, want);
        free(want);
        want = pxf_asprintf("%s:2:3: missing required key 'packages'", path);
        assert_diag(&diags, 1, want);
        cfg_diags_clear(&diags);

        write_file(dir, "p.yaml", "# nothing\n");
        assert_int_equal(cfg_load_package_list(path, &list, &diags), -EINVAL);
        free(want);
        want = pxf_asprintf("%s: the document is empty", path);
        assert_diag(&diags, 0, want);
        cfg_diags_clear(&diags);
        assert_null(list);
}

static void package_list_missing_file(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *path = pxf_asprintf("%s/none.yaml", dir);
        _cleanup_free_ char *want = pxf_asprintf("%s: cannot read the file: No such file or "
                                                 "directory",
                                                 path);
        char **list = NULL;
        struct cfg_diags diags = {0};

        assert_int_equal(cfg_load_package_list(path, &list, &diags), -ENOENT);
        assert_int_equal(diags.n, 1);
        assert_diag(&diags, 0, want);
        cfg_diags_clear(&diags);
        assert_int_equal(cfg_load_package_list(dir, &list, NULL), -EISDIR);
        assert_null(list);
}

/* ---- host files --------------------------------------------------------------------- */

static const char files_config[] = "os:\n"
                                   "  packages:\n"
                                   "    installLists: [lists/a.yaml]\n"
                                   "    removeLists: [lists/b.yaml]\n"
                                   "    updateLists: [lists/c.yaml]\n"
                                   "  additionalFiles:\n"
                                   "    - {source: files/motd, destination: /etc/motd}\n"
                                   "    - {content: x, destination: /etc/x}\n"
                                   "  additionalDirs:\n"
                                   "    - {source: tree, destination: /opt/tree}\n"
                                   "  users:\n"
                                   "    - name: alice\n"
                                   "      password: {type: hashed-file, value: secret}\n"
                                   "      sshPublicKeyPaths: [keys/a.pub, keys/b.pub]\n"
                                   "    - name: bob\n"
                                   "      password: {type: plain-text, value: not-a-path}\n"
                                   "scripts:\n"
                                   "  postCustomization:\n"
                                   "    - path: post.sh\n"
                                   "  finalizeCustomization:\n"
                                   "    - path: final.sh\n"
                                   "iso:\n"
                                   "  additionalFiles:\n"
                                   "    - {source: iso.txt, destination: iso.txt}\n"
                                   "pxe:\n"
                                   "  additionalFiles:\n"
                                   "    - {source: pxe.txt, destination: pxe.txt}\n";

static struct cfg_config *load_files_config(const char *dir)
{
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        assert_int_equal(load_string(files_config, dir, &cfg, &diags), 0);
        assert_int_equal(diags.n, 0);
        return cfg;
}

static void validate_files_ok(void **state)
{
        static const char *const files[] = {
            "lists/a.yaml", "lists/b.yaml", "lists/c.yaml", "files/motd", "secret", "keys/a.pub",
            "keys/b.pub",   "post.sh",      "final.sh",     "iso.txt",    "pxe.txt"};
        const char *dir = *state;
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = load_files_config(dir);

        for (size_t i = 0; i < PXF_ELEMENTSOF(files); i++)
                write_file(dir, files[i], "x\n");
        make_dir(dir, "tree");
        assert_int_equal(cfg_validate_files(cfg, &diags), 0);
        assert_int_equal(diags.n, 0);
        assert_int_equal(cfg_validate_files(cfg, NULL), 0);
        cfg_free(cfg);
}

static void validate_files_missing(void **state)
{
        static const struct {
                const char *where, *what, *rel;
        } want[] = {
            {"3:20: os.packages.installLists[0]", "file", "lists/a.yaml"},
            {"4:19: os.packages.removeLists[0]", "file", "lists/b.yaml"},
            {"5:19: os.packages.updateLists[0]", "file", "lists/c.yaml"},
            {"7:16: os.additionalFiles[0].source", "file", "files/motd"},
            {"10:16: os.additionalDirs[0].source", "directory", "tree"},
            {"13:44: os.users[0].password.value", "file", "secret"},
            {"14:27: os.users[0].sshPublicKeyPaths[0]", "file", "keys/a.pub"},
            {"14:39: os.users[0].sshPublicKeyPaths[1]", "file", "keys/b.pub"},
            {"19:13: scripts.postCustomization[0].path", "file", "post.sh"},
            {"21:13: scripts.finalizeCustomization[0].path", "file", "final.sh"},
            {"24:16: iso.additionalFiles[0].source", "file", "iso.txt"},
            {"27:16: pxe.additionalFiles[0].source", "file", "pxe.txt"},
        };
        const char *dir = *state;
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = load_files_config(dir);

        assert_int_equal(cfg_validate_files(cfg, &diags), -ENOENT);
        assert_int_equal(diags.n, PXF_ELEMENTSOF(want));
        for (size_t i = 0; i < PXF_ELEMENTSOF(want); i++) {
                _cleanup_free_ char *w =
                    pxf_asprintf("cfg.yaml:%s: %s '%s/%s' does not exist", want[i].where,
                                 want[i].what, dir, want[i].rel);

                assert_diag(&diags, i, w);
        }
        cfg_diags_clear(&diags);
        assert_int_equal(cfg_validate_files(cfg, NULL), -ENOENT);
        cfg_free(cfg);
}

static void validate_files_wrong_type(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *want_file = NULL, *want_dir = NULL;
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        write_file(dir, "tree", "a file, not a directory\n");
        make_dir(dir, "motd");
        assert_int_equal(load_string("os:\n"
                                     "  additionalFiles:\n"
                                     "    - {source: motd, destination: /etc/motd}\n"
                                     "  additionalDirs:\n"
                                     "    - {source: tree, destination: /opt/tree}\n",
                                     dir, &cfg, &diags),
                         0);
        assert_int_equal(cfg_validate_files(cfg, &diags), -ENOENT);
        assert_int_equal(diags.n, 2);
        want_file = pxf_asprintf("cfg.yaml:3:16: os.additionalFiles[0].source: '%s/motd' is not "
                                 "a regular file",
                                 dir);
        want_dir = pxf_asprintf("cfg.yaml:5:16: os.additionalDirs[0].source: '%s/tree' is not a "
                                "directory",
                                dir);
        assert_diag(&diags, 0, want_file);
        assert_diag(&diags, 1, want_dir);
        cfg_diags_clear(&diags);
        cfg_free(cfg);
}

/* ---- image formats ------------------------------------------------------------------ */

static void image_format_names(void **state)
{
        static const char *const names[] = {"raw",  "qcow2", "vhd",     "vhd-fixed",
                                            "vhdx", "iso",   "pxe-dir", "pxe-tar"};
        enum cfg_image_format f = CFG_FORMAT_UNSET;

        (void)state;
        for (size_t i = 0; i < PXF_ELEMENTSOF(names); i++) {
                assert_int_equal(cfg_image_format_from_string(names[i], &f), 0);
                assert_int_equal(f, CFG_FORMAT_RAW + (int)i);
                assert_string_equal(cfg_image_format_to_string(f), names[i]);
        }
        f = CFG_FORMAT_RAW;
        assert_int_equal(cfg_image_format_from_string("vmdk", &f), -EINVAL);
        assert_int_equal(cfg_image_format_from_string("", &f), -EINVAL);
        assert_int_equal(cfg_image_format_from_string("QCOW2", &f), -EINVAL);
        assert_int_equal(cfg_image_format_from_string(NULL, &f), -EINVAL);
        assert_int_equal(f, CFG_FORMAT_RAW);
        assert_string_equal(cfg_image_format_to_string(CFG_FORMAT_UNSET), "unset");
        assert_string_equal(cfg_image_format_to_string((enum cfg_image_format)99), "unknown");
}

static void image_format_is_disk(void **state)
{
        (void)state;
        assert_false(cfg_image_format_is_disk(CFG_FORMAT_UNSET));
        assert_true(cfg_image_format_is_disk(CFG_FORMAT_RAW));
        assert_true(cfg_image_format_is_disk(CFG_FORMAT_QCOW2));
        assert_true(cfg_image_format_is_disk(CFG_FORMAT_VHD));
        assert_true(cfg_image_format_is_disk(CFG_FORMAT_VHD_FIXED));
        assert_true(cfg_image_format_is_disk(CFG_FORMAT_VHDX));
        assert_false(cfg_image_format_is_disk(CFG_FORMAT_ISO));
        assert_false(cfg_image_format_is_disk(CFG_FORMAT_PXE_DIR));
        assert_false(cfg_image_format_is_disk(CFG_FORMAT_PXE_TAR));
}

#define TMP_TEST(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(diag_format_parts),
            cmocka_unit_test(diags_accumulate_and_clear),
            cmocka_unit_test(diags_sorted),
            cmocka_unit_test(load_buffer_base_dir),
            cmocka_unit_test(load_buffer_length),
            cmocka_unit_test(load_buffer_too_big),
            cmocka_unit_test(load_depth_limit),
            cmocka_unit_test(load_file_missing),
            TMP_TEST(load_file_relative),
            cmocka_unit_test(free_null),
            cmocka_unit_test(canonical_text_ignores_layout_not_meaning),
            cmocka_unit_test_setup_teardown(every_host_path_is_named, tmpdir_setup,
                                            tmpdir_teardown),
            TMP_TEST(package_list_good),
            TMP_TEST(package_list_bad),
            TMP_TEST(package_list_missing_key),
            TMP_TEST(package_list_missing_file),
            TMP_TEST(validate_files_ok),
            TMP_TEST(validate_files_missing),
            TMP_TEST(validate_files_wrong_type),
            cmocka_unit_test(image_format_names),
            cmocka_unit_test(image_format_is_disk),
        };

        return pxf_test_main(tests, argc, argv);
}
