/* What the artifacts learn of a boot chain (artifacts/loaders.c): an Authenticode signature
 * in a PE file, GRUB's HTTP client, the host's iPXE. The PE files are made here, byte by
 * byte, as the format describes them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/temp-tree.h"
#include "tests/lib/test-main.h"

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

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(pe_signature),
            cmocka_unit_test(grub_http_client),
            cmocka_unit_test(ipxe_needs_the_package),
        };
        return pxf_test_main(tests, argc, argv);
}
