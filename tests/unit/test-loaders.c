/* What the artifacts learn of a boot chain (artifacts/loaders.c): an Authenticode signature
 * in a PE file, GRUB's HTTP client, the host's iPXE; and GRUB for BIOS (bios-grub.c), from
 * the image or this host (its grub-pc-bin, which tests/deps.sh installs). The PE files are
 * made here, byte by byte, as the format describes them. */
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

#include "artifacts/artifacts.h"
#include "artifacts/loaders-internal.h"

#define PE_AT      0x40
#define OPT_AT     (PE_AT + 24)
#define CERT_AT    0x200
#define IMAGE_SIZE 0x400

static void put16(unsigned char *p, unsigned v)
{
        p[0] = (unsigned char)v;
        p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
        put16(p, v & 0xffff);
        put16(p + 2, v >> 16);
}

/* A PE32+ image whose security directory points at a WIN_CERTIFICATE of cert_type, or
 * has no security directory when cert_type is 0. */
static void make_pe(unsigned char img[IMAGE_SIZE], unsigned cert_type)
{
        memset(img, 0, IMAGE_SIZE);
        img[0] = 'M', img[1] = 'Z';
        put32(img + 0x3c, PE_AT);
        memcpy(img + PE_AT, "PE\0\0", 4);
        put16(img + PE_AT + 20, 112 + 16 * 8); /* SizeOfOptionalHeader */
        put16(img + OPT_AT, 0x20b);            /* PE32+ */
        put32(img + OPT_AT + 108, 16);         /* NumberOfRvaAndSizes */
        if (!cert_type)
                return;
        put32(img + OPT_AT + 112 + 4 * 8, CERT_AT);
        put32(img + OPT_AT + 112 + 4 * 8 + 4, 16);
        put32(img + CERT_AT, 16);
        put16(img + CERT_AT + 4, 0x200);
        put16(img + CERT_AT + 6, cert_type);
}

static bool signed_file(const char *dir, const char *name, const unsigned char *data, size_t len)
{
        char path[256];
        struct pxf_error err = {0};
        bool is_signed = true;

        tt_write(dir, name, data, len, 0644);
        tt_path(path, sizeof path, dir, name);
        assert_int_equal(art_pe_signed(path, &is_signed, &err), 0);
        return is_signed;
}

static void pe_signature(void **state)
{
        char *dir = tt_make("loaders");
        unsigned char img[IMAGE_SIZE];
        char path[256];
        struct pxf_error err = {0};
        bool b;
        (void)state;
        make_pe(img, 2);
        assert_true(signed_file(dir, "signed.efi", img, sizeof img));
        make_pe(img, 0);
        assert_false(signed_file(dir, "unsigned.efi", img, sizeof img));
        make_pe(img, 1); /* an X.509 certificate alone signs nothing */
        assert_false(signed_file(dir, "x509.efi", img, sizeof img));
        make_pe(img, 2); /* the directory points past the end of the file */
        assert_false(signed_file(dir, "cut.efi", img, CERT_AT + 4));
        tt_write_text(dir, "text", "#!/bin/sh\n", 0644);
        tt_path(path, sizeof path, dir, "text");
        assert_int_equal(art_pe_signed(path, &b, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "is not an EFI (PE) executable"));
        tt_path(path, sizeof path, dir, "missing");
        assert_int_equal(art_pe_signed(path, &b, &err), -ENOENT);
        tt_remove(dir);
}

/* The marker is found wherever it lies, across the scanner's reads too. */
static void grub_http_client(void **state)
{
        static const char marker[] = " HTTP/1.1";
        const size_t big = 3u * 1024 * 1024;
        const size_t offsets[] = {0, 1024 * 1024 - 4, 2u * 1024 * 1024 - 1,
                                  big - sizeof marker + 1};
        char *dir = tt_make("grub-http");
        unsigned char *data = calloc(1, big);
        char path[256];
        struct pxf_error err = {0};
        bool has = true;
        (void)state;
        assert_non_null(data);
        tt_write(dir, "plain.efi", data, big, 0644);
        tt_path(path, sizeof path, dir, "plain.efi");
        assert_int_equal(art_grub_has_http(path, &has, &err), 0);
        assert_false(has);
        for (size_t i = 0; i < PXF_ELEMENTSOF(offsets); i++) {
                memset(data, 'x', big);
                memcpy(data + offsets[i], marker, sizeof marker - 1);
                tt_write(dir, "http.efi", data, big, 0644);
                tt_path(path, sizeof path, dir, "http.efi");
                has = false;
                assert_int_equal(art_grub_has_http(path, &has, &err), 0);
                assert_true(has);
        }
        free(data);
        tt_remove(dir);
}

static void ipxe_needs_the_package(void **state)
{
        char *dir = tt_make("ipxe");
        struct pxf_error err = {0};
        (void)state;
        assert_int_equal(art_ipxe_check(dir, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "snponly.efi is missing: install the Debian package ipxe"));
        tt_write_text(dir, "snponly.efi", "x", 0644);
        assert_int_equal(art_ipxe_check(dir, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "undionly.kpxe is missing"));
        tt_write_text(dir, "undionly.kpxe", "x", 0644);
        assert_int_equal(art_ipxe_check(dir, &err), 0);
        tt_remove(dir);
}

/* A tree with the Debian boot chain made of the PE files above: shim and GRUB signed, the
 * kernel as asked, GRUB with or without its HTTP client. */
static void make_tree(const char *dir, bool kernel_signed, bool grub_http)
{
        unsigned char img[IMAGE_SIZE];

        tt_write_text(dir, "tree/etc/debian_version", "12.8\n", 0644);
        tt_write_text(dir, "tree/etc/hostname", "chain\n", 0644);
        make_pe(img, 2);
        tt_write(dir, "tree/usr/lib/shim/shimx64.efi.signed", img, sizeof img, 0644);
        if (grub_http)
                memcpy(img + IMAGE_SIZE - 16, " HTTP/1.1", 9);
        tt_write(dir, "tree/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed", img, sizeof img,
                 0644);
        make_pe(img, kernel_signed ? 2 : 0);
        tt_write(dir, "tree/boot/vmlinuz-6.1.0-test", img, sizeof img, 0644);
}

static int make_pxe_dir(const char *dir, const struct cfg_config *cfg, struct pxf_error *err)
{
        char tree[256], work[256], out[256], partial[256];
        struct art_request req = {.cfg = cfg, .format = CFG_FORMAT_PXE_DIR};

        tt_path(tree, sizeof tree, dir, "tree");
        tt_path(work, sizeof work, dir, "work");
        tt_path(out, sizeof out, dir, "out");
        tt_path(partial, sizeof partial, dir, "out.partial");
        tt_mkdir(dir, "work", 0755);
        req.tree = tree, req.work_dir = work, req.output = out, req.partial = partial;
        return art_make(&req, err);
}

/* What the build learns of the chain reaches the manifest, with boot.ipxe and grub.cfg. */
static void pxe_dir_records_the_chain(void **state)
{
        char *dir = tt_make("chain");
        struct cfg_config cfg = {0};
        struct pxf_error err = {0};
        char *manifest, *grub_cfg;
        (void)state;
        make_tree(dir, true, true);
        cfg.server.http_port = 8089;
        assert_int_equal(make_pxe_dir(dir, &cfg, &err), 0);
        manifest = tt_read(dir, "out.partial/manifest");
        assert_non_null(strstr(manifest, "\nipxe: off\n"));
        assert_non_null(strstr(manifest, "\ngrub-http: yes\n"));
        assert_non_null(strstr(manifest, "\nsecure-boot: signed\n"));
        assert_true(tt_exists(dir, "out.partial/" ART_IPXE_SCRIPT));
        assert_false(tt_exists(dir, "out.partial/" ART_IPXE_UEFI));
        assert_non_null(strstr(manifest, "\nbios: none\n"));
        assert_false(tt_exists(dir, "out.partial/" ART_BIOS_GRUB));
        grub_cfg = tt_read(dir, "out.partial/grub/grub.cfg");
        assert_non_null(strstr(grub_cfg, "if linux (http,${net_default_server}:8089)/vmlinuz"));
        free(manifest);
        free(grub_cfg);
        tt_remove(dir);
}

/* An unsigned kernel: recorded, and refused with server.secureBoot, naming the file. */
static void pxe_dir_unsigned_kernel(void **state)
{
        char *dir = tt_make("unsigned");
        struct cfg_config cfg = {0};
        struct pxf_error err = {0};
        char *manifest;
        (void)state;
        make_tree(dir, false, false);
        assert_int_equal(make_pxe_dir(dir, &cfg, &err), 0);
        manifest = tt_read(dir, "out.partial/manifest");
        assert_non_null(strstr(manifest, "\ngrub-http: no\n"));
        assert_non_null(strstr(manifest, "\nsecure-boot: unsigned: vmlinuz\n"));
        free(manifest);
        tt_remove(dir);

        dir = tt_make("secure-boot");
        make_tree(dir, false, false);
        cfg.server.secure_boot = true;
        assert_int_equal(make_pxe_dir(dir, &cfg, &err), -EPERM);
        assert_non_null(strstr(err.msg, "server.secureBoot: a Secure Boot machine would refuse "
                                        "this boot chain (no signature on vmlinuz): install the "
                                        "signed shim-signed, grub-efi-amd64-signed"));
        tt_remove(dir);
}

/* core.0 and the empty module lists beside it, and the manifest's word on its source. */
static void check_bios_grub(const char *dir, const char *source)
{
        _cleanup_free_ char *manifest = tt_read(dir, "out.partial/manifest");
        _cleanup_free_ char *line = pxf_asprintf("\nbios: grub from %s\n", source);
        char path[256];
        struct stat st;

        assert_non_null(strstr(manifest, line));
        tt_path(path, sizeof path, dir, "out.partial/" ART_BIOS_GRUB);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 32 * 1024); /* pxeboot.img, kernel and a dozen modules */
        tt_path(path, sizeof path, dir, "out.partial/grub/i386-pc/command.lst");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 0);
}

/* An image without grub-pc-bin: GRUB for BIOS from this host's. */
static void bios_grub_from_this_host(void **state)
{
        char *dir = tt_make("bios-host");
        struct cfg_config cfg = {0};
        struct pxf_error err = {0};
        (void)state;
        make_tree(dir, true, false);
        cfg.server.bios = true;
        assert_int_equal(make_pxe_dir(dir, &cfg, &err), 0);
        check_bios_grub(dir, "this host");
        tt_remove(dir);
}

/* An image with grub-pc-bin: its own grub-mkimage runs in the container on the tree (a
 * tree with this host's, the libraries it loads and the modules copied in; Debian 13's
 * libudev also loads libcap). */
static void bios_grub_from_the_image(void **state)
{
        static const char *const libs[] = {
            "liblzma.so.5", "libdevmapper.so.1.02.1", "libselinux.so.1", "libudev.so.1",
            "libm.so.6",    "libpcre2-8.so.0",        "libcap.so.2"};
        char *dir = tt_make("bios-image");
        char tree[256], grub_dir[256];
        struct cfg_config cfg = {0};
        struct pxf_error err = {0};
        (void)state;
        tt_path(tree, sizeof tree, dir, "tree");
        tt_make_os_tree(tree);
        make_tree(dir, true, false);
        tt_copy_in(tree, "/usr/bin/grub-mkimage");
        for (size_t i = 0; i < PXF_ELEMENTSOF(libs); i++) {
                _cleanup_free_ char *lib = pxf_asprintf("/lib/x86_64-linux-gnu/%s", libs[i]);
                tt_copy_in(tree, lib);
        }
        tt_path(grub_dir, sizeof grub_dir, dir, "tree/usr/lib/grub");
        assert_int_equal(
            pxf_spawn_run((const char *[]){"cp", "-r", "/usr/lib/grub/i386-pc", grub_dir, NULL},
                          NULL, &err),
            0);
        cfg.server.bios = true;
        assert_int_equal(make_pxe_dir(dir, &cfg, &err), 0);
        check_bios_grub(dir, "the image");
        tt_remove(dir);
}

/* Neither the image nor this host (its modules hidden in a mount namespace of this test's
 * own) has grub-pc-bin: the error names the package, before the initramfs is made. */
static void bios_grub_needs_the_package(void **state)
{
        char *dir = tt_make("bios-none");
        struct cfg_config cfg = {0};
        struct pxf_error err = {0};
        (void)state;
        assert_int_equal(unshare(CLONE_NEWNS), 0);
        assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        assert_int_equal(mount("none", "/usr/lib/grub/i386-pc", "tmpfs", 0, NULL), 0);
        make_tree(dir, true, false);
        cfg.server.bios = true;
        assert_int_equal(make_pxe_dir(dir, &cfg, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "server.bios needs GRUB for BIOS (grub-mkimage and "
                                        "/usr/lib/grub/i386-pc), in neither the image nor this "
                                        "host: install the package grub-pc-bin"));
        assert_false(tt_exists(dir, "out.partial/initrd.img"));
        tt_remove(dir);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(pe_signature),
            cmocka_unit_test(grub_http_client),
            cmocka_unit_test(ipxe_needs_the_package),
            cmocka_unit_test(pxe_dir_records_the_chain),
            cmocka_unit_test(pxe_dir_unsigned_kernel),
            cmocka_unit_test(bios_grub_from_this_host),
            cmocka_unit_test(bios_grub_from_the_image),
            cmocka_unit_test(bios_grub_needs_the_package),
        };
        return pxf_test_main(tests, argc, argv);
}
