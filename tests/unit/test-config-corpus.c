/* Loads one file of tests/config-corpus, named relative to that directory (the working
 * directory of the test), e.g. `test_config_corpus bad/unknown-key.yaml`.
 *
 * bad/ files carry their expected diagnostics as `# expect: <formatted diag>` comment
 * lines; the loader must report exactly those, in that order. good/ files must load
 * without diagnostics, their referenced files must exist, and a checker below asserts a
 * few parsed values of each. */
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

#include "common/common.h"
#include "config/config.h"

#define EXPECT_PREFIX "# expect: "

/* The `# expect:` lines of a corpus file. */
static char **read_expectations(const char *path)
{
        _cleanup_free_ char *buf = NULL;
        char **v = NULL;

        assert_int_equal(pxf_read_file(path, CFG_FILE_MAX, &buf, NULL), 0);
        for (char *line = buf; line;) {
                char *nl = strchr(line, '\n');

                if (nl)
                        *nl = '\0';
                if (strncmp(line, EXPECT_PREFIX, strlen(EXPECT_PREFIX)) == 0)
                        pxf_strv_push(&v, line + strlen(EXPECT_PREFIX));
                line = nl ? nl + 1 : NULL;
        }
        return v;
}

static char **format_diags(const struct cfg_diags *d)
{
        char **v = NULL;

        for (size_t i = 0; i < d->n; i++) {
                _cleanup_free_ char *s = cfg_diag_format(&d->items[i]);

                pxf_strv_push(&v, s);
        }
        return v;
}

static void print_list(const char *title, char *const *v)
{
        print_message("%s (%zu):\n", title, pxf_strv_length(v));
        for (size_t i = 0; v && v[i]; i++)
                print_message("  %s\n", v[i]);
}

static void check_bad(const char *path)
{
        _cleanup_strv_free_ char **expected = read_expectations(path);
        _cleanup_strv_free_ char **got = NULL;
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;
        int r = cfg_load_file(path, &cfg, &diags);

        got = format_diags(&diags);
        cfg_diags_clear(&diags);
        assert_int_equal(r, -EINVAL);
        assert_null(cfg);
        assert_non_null(expected); /* a bad file without expectations is a corpus bug */
        if (pxf_strv_length(expected) != pxf_strv_length(got)) {
                print_list("expected", expected);
                print_list("got", got);
        }
        assert_int_equal(pxf_strv_length(got), pxf_strv_length(expected));
        for (size_t i = 0; expected[i]; i++)
                assert_string_equal(got[i], expected[i]);
}

/* The corpus directory as an absolute path: what relative paths resolve against. */
static char *corpus_path(const char *rel)
{
        _cleanup_free_ char *cwd = getcwd(NULL, 0);

        assert_non_null(cwd);
        return pxf_asprintf("%s/good/%s", cwd, rel);
}

static void assert_path(const char *got, const char *rel)
{
        _cleanup_free_ char *want = corpus_path(rel);

        assert_non_null(got);
        assert_string_equal(got, want);
}

static void assert_strv(char *const *got, const char *const *want)
{
        size_t n = 0;

        while (want[n])
                n++;
        assert_int_equal(pxf_strv_length(got), n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(got[i], want[i]);
}

#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void check_full_os(const struct cfg_os *os)
{
        const struct cfg_packages *p = &os->packages;

        assert_string_equal(os->hostname, "pxe-node-01.example.com");
        assert_true(p->update_existing);
        assert_strv(p->install, STRV("vim", "openssh-server"));
        assert_strv(p->remove, STRV("nano"));
        assert_strv(p->update, STRV("kernel"));
        assert_path(p->install_lists[0], "data/packages.yaml");
        assert_path(p->update_lists[0], "data/packages.yaml");
        assert_int_equal(p->remove_lists_locs[0].line, 14);
        assert_int_equal(p->remove_lists_locs[0].column, 19);
        assert_strv(os->services_enable, STRV("sshd", "chronyd"));
        assert_strv(os->services_disable, STRV("firewalld"));
        assert_strv(os->extra_command_line, STRV("console=ttyS0 quiet"));
        assert_int_equal(os->selinux_mode, CFG_SELINUX_PERMISSIVE);
        assert_int_equal(os->selinux_mode_loc.line, 64);
}

static void check_full_files(const struct cfg_os *os)
{
        const struct cfg_dir *d = &os->additional_dirs[0];

        assert_int_equal(os->n_additional_files, 2);
        assert_path(os->additional_files[0].source, "data/motd.txt");
        assert_null(os->additional_files[0].content);
        assert_string_equal(os->additional_files[0].destination, "/etc/motd");
        assert_true(os->additional_files[0].has_permissions);
        assert_int_equal(os->additional_files[0].permissions, 0644);
        assert_int_equal(os->additional_files[0].loc.line, 17);
        assert_int_equal(os->additional_files[0].loc.column, 7);
        assert_null(os->additional_files[1].source);
        assert_string_equal(os->additional_files[1].content, "hello\n");
        assert_int_equal(os->additional_files[1].permissions, 0600);
        assert_int_equal(os->n_additional_dirs, 1);
        assert_path(d->source, "data/overlay");
        assert_string_equal(d->destination, "/opt/overlay");
        assert_true(d->has_new_dir_permissions && d->has_merged_dir_permissions &&
                    d->has_child_file_permissions);
        assert_int_equal(d->new_dir_permissions, 0755);
        assert_int_equal(d->merged_dir_permissions, 0750);
        assert_int_equal(d->child_file_permissions, 0640);
}

static void check_full_users(const struct cfg_os *os)
{
        const struct cfg_user *a = &os->users[0], *s = &os->users[1];

        assert_int_equal(os->n_users, 2);
        assert_string_equal(a->name, "alice");
        assert_true(a->has_uid);
        assert_int_equal(a->uid, 1000);
        assert_true(a->has_password);
        assert_int_equal(a->password.type, CFG_PASSWORD_HASHED);
        assert_string_equal(a->password.value, "$6$salt$hash");
        assert_true(a->has_password_expires_days);
        assert_int_equal(a->password_expires_days, 90);
        assert_strv(a->ssh_public_keys, STRV("ssh-ed25519 AAAA alice@example"));
        assert_path(a->ssh_public_key_paths[0], "data/id.pub");
        assert_string_equal(a->primary_group, "alice");
        assert_strv(a->secondary_groups, STRV("wheel", "docker"));
        assert_string_equal(a->startup_command, "/bin/bash");
        assert_string_equal(a->home_directory, "/home/alice");
        assert_string_equal(s->name, "svc_runner");
        assert_false(s->has_uid);
        assert_int_equal(s->password.type, CFG_PASSWORD_LOCKED);
        assert_null(s->password.value);
        assert_false(s->has_password_expires_days);
        assert_int_equal(os->n_groups, 2);
        assert_true(os->groups[0].has_gid);
        assert_int_equal(os->groups[0].gid, 990);
        assert_false(os->groups[1].has_gid);
        assert_int_equal(os->n_modules, 3);
        assert_int_equal(os->modules[0].load_mode, CFG_MODULE_ALWAYS);
        assert_string_equal(os->modules[0].options, "enable_unsafe_noiommu_mode=1");
        assert_int_equal(os->bootloader_reset, CFG_BOOTLOADER_KEEP);
        assert_int_equal(os->image_history, CFG_IMAGE_HISTORY_WRITE);
        assert_int_equal(os->modules[1].load_mode, CFG_MODULE_DISABLE);
        assert_int_equal(os->modules[2].load_mode, CFG_MODULE_INHERIT);
        assert_null(os->modules[2].options);
}

static void check_full_rest(const struct cfg_config *c)
{
        const struct cfg_script *s = &c->post_customization[0];

        assert_path(c->input_image_path, "data/base.qcow2");
        assert_int_equal(c->n_post_customization, 1);
        assert_path(s->path, "data/setup.sh");
        assert_string_equal(s->interpreter, "/bin/sh");
        assert_strv(s->arguments, STRV("--verbose", "2"));
        assert_strv(s->environment, STRV("ZED=last", "ALPHA=first", "_MIXED_9=with = sign"));
        assert_string_equal(s->name, "setup");
        assert_int_equal(c->n_finalize_customization, 1);
        assert_string_equal(c->finalize_customization[0].content, "echo done");
        assert_null(c->finalize_customization[0].path);
        assert_int_equal(c->iso.initramfs_type, CFG_INITRAMFS_BOOTSTRAP);
        assert_strv(c->iso.extra_command_line, STRV("rd.live.image", "console=tty0"));
        assert_string_equal(c->iso.additional_files[0].destination, "boot/motd.txt");
        assert_string_equal(c->iso.additional_files[1].destination, "/README");
        assert_int_equal(c->pxe.live.initramfs_type, CFG_INITRAMFS_BOOTSTRAP);
        assert_string_equal(c->pxe.bootstrap_file_url, "http://192.168.1.1/images/live.iso");
        assert_int_equal(c->pxe.bootstrap_file_url_loc.line, 92);
        assert_int_equal(c->pxe.bootstrap_file_url_loc.column, 21);
        assert_null(c->pxe.bootstrap_base_url);
        assert_strv(c->pxe.live.extra_command_line, STRV("ip=dhcp"));
        assert_int_equal(c->pxe.live.additional_files[0].permissions, 0444);
        assert_path(c->output_image_path, "out/image.qcow2");
        assert_int_equal(c->output_image_format, CFG_FORMAT_QCOW2);
}

static void check_full(const struct cfg_config *c)
{
        _cleanup_free_ char *dir = corpus_path("");

        dir[strlen(dir) - 1] = '\0'; /* no trailing slash */
        assert_string_equal(c->path, "good/full.yaml");
        assert_string_equal(c->dir, dir);
        check_full_os(&c->os);
        check_full_files(&c->os);
        check_full_users(&c->os);
        check_full_rest(c);
}

static void check_minimal(const struct cfg_config *c)
{
        assert_string_equal(c->os.hostname, "node");
        assert_null(c->input_image_path);
        assert_int_equal(c->os.n_users, 0);
        assert_null(c->os.users);
        assert_null(c->os.extra_command_line);
        assert_int_equal(c->os.selinux_mode, CFG_SELINUX_UNSET);
        assert_int_equal(c->iso.initramfs_type, CFG_INITRAMFS_UNSET);
        assert_int_equal(c->output_image_format, CFG_FORMAT_UNSET);
}

static void check_pxe_full_os(const struct cfg_config *c)
{
        assert_int_equal(c->os.selinux_mode, CFG_SELINUX_DISABLED);
        assert_int_equal(c->pxe.live.initramfs_type, CFG_INITRAMFS_FULL_OS);
        assert_strv(c->pxe.live.extra_command_line, STRV("rd.shell=0"));
        assert_int_equal(c->output_image_format, CFG_FORMAT_PXE_TAR);
        assert_string_equal(c->output_image_path, "/srv/out/pxe.tar");
}

static void check_pxe_base_url(const struct cfg_config *c)
{
        assert_int_equal(c->os.selinux_mode, CFG_SELINUX_ENFORCING);
        assert_string_equal(c->pxe.bootstrap_base_url, "NFS://server/export/images/");
        assert_int_equal(c->pxe.bootstrap_base_url_loc.line, 8);
        assert_null(c->pxe.bootstrap_file_url);
        assert_int_equal(c->iso.initramfs_type, CFG_INITRAMFS_BOOTSTRAP);
        assert_int_equal(c->output_image_format, CFG_FORMAT_PXE_DIR);
}

static void check_passwords(const struct cfg_config *c)
{
        const struct cfg_user *u = c->os.users;

        assert_int_equal(c->os.n_users, 5);
        assert_int_equal(u[0].uid, 0);
        assert_true(u[0].has_uid);
        assert_int_equal(u[0].password.type, CFG_PASSWORD_PLAIN_TEXT);
        assert_string_equal(u[0].password.value, "secret with spaces");
        assert_true(u[0].has_password_expires_days);
        assert_int_equal(u[0].password_expires_days, 0);
        assert_int_equal(u[1].uid, 60000);
        assert_int_equal(u[1].password_expires_days, 99999);
        assert_int_equal(u[1].password.type, CFG_PASSWORD_PLAIN_TEXT_FILE);
        assert_path(u[1].password.value, "data/password.txt");
        assert_int_equal(u[1].password.value_loc.line, 15);
        assert_int_equal(u[2].password.type, CFG_PASSWORD_HASHED_FILE);
        assert_path(u[2].password.value, "./data/password.txt");
        assert_int_equal(u[3].password.type, CFG_PASSWORD_LOCKED);
        assert_string_equal(u[3].name, "_daemon");
        assert_true(u[3].has_password_expires_days);
        assert_int_equal(u[3].password_expires_days, -1);
        assert_int_equal(u[4].password.type, CFG_PASSWORD_HASHED);
        assert_string_equal(u[4].password.value, "$y$j9T$salt$hash");
        assert_false(u[4].has_password_expires_days);
}

static void check_empty(const struct cfg_config *c)
{
        assert_null(c->os.hostname);
        assert_null(c->input_image_path);
        assert_null(c->files);
        assert_int_equal(c->preview_features, 0);
        assert_int_equal(c->output_image_format, CFG_FORMAT_UNSET);
}

/* Merged as Image Customizer merges a chain: later scalars win, lists follow the bases'. */
static void check_base_chain(const struct cfg_config *c)
{
        const struct cfg_os *os = &c->os;

        assert_strv(c->files, STRV("good/data/base-common.yaml", "good/data/base-os.yaml"));
        assert_int_equal(c->preview_features,
                         CFG_PREVIEW_BASE_CONFIGS | CFG_PREVIEW_OUTPUT_ARTIFACTS);
        assert_string_equal(os->hostname, "top");
        assert_strv(os->packages.install, STRV("common-pkg", "middle-pkg", "top-pkg"));
        assert_strv(os->extra_command_line, STRV("middle.arg=1", "top.arg=1"));
        assert_int_equal(os->n_users, 2);
        assert_string_equal(os->users[0].name, "alice");
        assert_false(os->users[0].has_password_expires_days);
        assert_string_equal(os->users[1].name, "carol");
        assert_int_equal(os->users[1].password_expires_days, -1);
        assert_int_equal(os->n_modules, 2);
        assert_int_equal(os->modules[0].load_mode, CFG_MODULE_ALWAYS);
        assert_string_equal(os->modules[1].options, "numdummies=3");
        assert_int_equal(os->bootloader_reset, CFG_BOOTLOADER_HARD_RESET);
        assert_int_equal(os->image_history, CFG_IMAGE_HISTORY_NONE);
        assert_int_equal(os->selinux_mode, CFG_SELINUX_PERMISSIVE);
        assert_null(os->selinux_mode_loc.file); /* set by the config itself */
        assert_int_equal(os->n_additional_files, 1);
        assert_path(os->additional_files[0].source, "data/motd.txt");
        assert_string_equal(os->additional_files[0].loc.file, "good/data/base-os.yaml");
        assert_int_equal(os->additional_files[0].loc.line, 12);
        assert_path(c->input_image_path, "data/base.qcow2");
        assert_path(c->output_image_path, "out/top.qcow2");
        assert_int_equal(c->output_image_format, CFG_FORMAT_QCOW2);
        assert_path(c->artifacts_path, "data/artifacts");
        assert_int_equal(c->artifacts, CFG_ARTIFACT_SHIM);
}

static void check_permissions(const struct cfg_config *c)
{
        static const mode_t want[] = {0644, 0755, 0640, 0600, 07777, 0};
        const struct cfg_file *f = c->os.additional_files;

        assert_int_equal(c->os.n_additional_files, 7);
        for (size_t i = 0; i < PXF_ELEMENTSOF(want); i++) {
                assert_true(f[i].has_permissions);
                assert_int_equal(f[i].permissions, want[i]);
        }
        assert_false(f[6].has_permissions);
}

static void check_empty_sections(const struct cfg_config *c)
{
        assert_null(c->os.packages.install);
        assert_null(c->os.packages.remove);
        assert_int_equal(c->os.n_users, 0);
        assert_null(c->os.services_enable);
        assert_null(c->os.extra_command_line);
        assert_int_equal(c->n_post_customization, 0);
        assert_int_equal(c->iso.initramfs_type, CFG_INITRAMFS_UNSET);
}

static void check_scripts_env(const struct cfg_config *c)
{
        const struct cfg_script *s = c->post_customization;

        assert_int_equal(c->n_post_customization, 1);
        assert_string_equal(s->content, "echo \"$GREETING $PORT\"\n");
        assert_strv(s->environment, STRV("GREETING=hello", "PORT=8080", "DEBUG=true"));
        assert_strv(s->arguments, STRV("1", "true", "-x"));
        assert_null(s->interpreter);
        assert_path(c->finalize_customization[0].path, "data/setup.sh");
        assert_string_equal(c->finalize_customization[0].interpreter, "/bin/bash");
}

static void check_flow_style(const struct cfg_config *c)
{
        assert_string_equal(c->os.hostname, "a.b-c.d9");
        assert_int_equal(c->os.n_modules, 2);
        assert_string_equal(c->os.modules[0].name, "nvme");
        assert_int_equal(c->os.modules[0].load_mode, CFG_MODULE_AUTO);
        assert_int_equal(c->os.modules[1].load_mode, CFG_MODULE_INHERIT);
        assert_int_equal(c->output_image_format, CFG_FORMAT_VHD_FIXED);
}

static void check_server(const struct cfg_config *c)
{
        const struct cfg_server *s = &c->server;

        assert_string_equal(s->interface, "br0");
        assert_string_equal(s->address, "192.168.77.1");
        assert_int_equal(s->dhcp, CFG_DHCP_AUTHORITATIVE);
        assert_string_equal(s->range_start, "192.168.77.10");
        assert_string_equal(s->range_end, "192.168.77.99");
        assert_string_equal(s->netmask, "255.255.255.0");
        assert_string_equal(s->router, "192.168.77.1");
        assert_int_equal(s->tftp_port, 69);
        assert_int_equal(s->http_port, 8080);
        assert_string_equal(s->user, "nobody");
        assert_string_equal(s->state_dir, "/var/lib/pxeforge/lab");
        assert_int_equal(s->tftp.max_transfers, 1024);
        assert_int_equal(s->tftp.max_per_source, 8);
        assert_int_equal(s->tftp.timeout_ms, 500);
        assert_int_equal(s->tftp.max_retries, 3);
        assert_int_equal(s->tftp.max_blksize, 1432);
        assert_int_equal(s->tftp.max_windowsize, 16);
        assert_int_equal(s->http.max_connections, 512);
        assert_int_equal(s->http.max_per_source, 4);
        assert_int_equal(s->http.max_requests, 100);
        assert_int_equal(s->http.max_lifetime_ms, 60000);
        assert_int_equal(s->http.idle_timeout_ms, 5000);
        assert_int_equal(s->http.header_timeout_ms, 2000);
}

static void check_server_machines(const struct cfg_config *c)
{
        const struct cfg_machines *m = &c->server.machines;

        assert_string_equal(m->default_boot, "ignore");
        assert_int_equal(m->n_groups, 3);
        assert_strv(m->groups[0].macs,
                    (const char *const[]){"52:54:00:77:00:01", "52-54-00-77-00-02", NULL});
        assert_int_equal(m->groups[0].arch, 0);
        assert_string_equal(m->groups[0].boot, "storage");
        assert_false(m->groups[0].boot_once);
        assert_int_equal(m->groups[0].boot_loc.line, 8);
        assert_strv(m->groups[1].macs, (const char *const[]){"52:54:00:88", NULL});
        assert_int_equal(m->groups[1].arch, PXF_ARCH_EFI_X64 | PXF_ARCH_EFI_X64_HTTP);
        assert_true(m->groups[1].boot_once);
        assert_null(m->groups[2].macs);
        assert_int_equal(m->groups[2].arch, PXF_ARCH_BIOS);
        assert_string_equal(m->groups[2].boot, "local");
}

static const struct {
        const char *path;
        void (*check)(const struct cfg_config *c);
} good_checks[] = {
    {"good/server-machines.yaml", check_server_machines},
    {"good/server.yaml", check_server},
    {"good/full.yaml", check_full},
    {"good/minimal.yaml", check_minimal},
    {"good/pxe-full-os.yaml", check_pxe_full_os},
    {"good/pxe-base-url.yaml", check_pxe_base_url},
    {"good/passwords.yaml", check_passwords},
    {"good/empty.yaml", check_empty},
    {"good/base-chain.yaml", check_base_chain},
    {"good/permissions.yaml", check_permissions},
    {"good/empty-sections.yaml", check_empty_sections},
    {"good/scripts-env.yaml", check_scripts_env},
    {"good/flow-style.yaml", check_flow_style},
};

static void check_good(const char *path)
{
        _cleanup_strv_free_ char **expected = read_expectations(path);
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;
        int r = cfg_load_file(path, &cfg, &diags);
        bool checked = false;

        for (size_t i = 0; i < diags.n; i++) {
                _cleanup_free_ char *s = cfg_diag_format(&diags.items[i]);

                print_message("unexpected: %s\n", s);
        }
        assert_null(expected);
        assert_int_equal(r, 0);
        assert_int_equal(diags.n, 0);
        assert_non_null(cfg);
        assert_int_equal(cfg_validate_files(cfg, &diags), 0);
        assert_int_equal(diags.n, 0);
        for (size_t i = 0; i < PXF_ELEMENTSOF(good_checks); i++)
                if (strcmp(path, good_checks[i].path) == 0) {
                        good_checks[i].check(cfg);
                        checked = true;
                }
        cfg_free(cfg);
        assert_true(checked); /* every good file needs a checker */
}

static void test_corpus_file(void **state)
{
        const char *path = *state;

        if (strncmp(path, "bad/", 4) == 0)
                check_bad(path);
        else if (strncmp(path, "good/", 5) == 0)
                check_good(path);
        else
                fail_msg("corpus files live in good/ or bad/: %s", path);
}

int main(int argc, char **argv)
{
        struct CMUnitTest tests[] = {
            cmocka_unit_test_prestate(test_corpus_file, NULL),
        };

        if (argc != 2) {
                fprintf(stderr, "usage: %s good/FILE.yaml|bad/FILE.yaml\n", argv[0]);
                return 2;
        }
        tests[0].initial_state = argv[1];
        tests[0].name = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
