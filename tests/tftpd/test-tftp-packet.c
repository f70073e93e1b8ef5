/* Unit tests of the pure TFTP codec: request and reply parsing, option negotiation, the
 * packets the server builds, file name cleaning and log escaping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/test-main.h"

#include "tftpd/tftp-packet.h"

/* Packet literals: sizeof includes the literal's own trailing NUL, which is dropped. */
#define PKT(s) (const uint8_t *)(s), (sizeof(s) - 1)

static const struct tftp_limits limits = {.max_blksize = 1468, .max_windowsize = 64};

static void parse_rrq_plain(void **state)
{
        struct tftp_request req;

        (void)state;
        assert_int_equal(tftp_parse_request(PKT("\0\1grub/grubx64.efi\0octet\0"), &req), 0);
        assert_int_equal(req.opcode, TFTP_OP_RRQ);
        assert_string_equal(req.filename, "grub/grubx64.efi");
        assert_int_equal(req.mode, TFTP_MODE_OCTET);
        assert_int_equal(req.n_options, 0);
}

static void parse_rrq_options(void **state)
{
        struct tftp_request req;

        (void)state;
        assert_int_equal(tftp_parse_request(PKT("\0\1f\0octet\0blksize\0001468\0tsize\0000\0"
                                                "windowsize\0004\0x-empty\0\0"),
                                            &req),
                         0);
        assert_int_equal(req.n_options, 4);
        assert_string_equal(req.options[0].name, "blksize");
        assert_string_equal(req.options[0].value, "1468");
        assert_string_equal(req.options[1].name, "tsize");
        assert_string_equal(req.options[1].value, "0");
        assert_string_equal(req.options[2].name, "windowsize");
        assert_string_equal(req.options[2].value, "4");
        assert_string_equal(req.options[3].name, "x-empty");
        assert_string_equal(req.options[3].value, "");
}

static void parse_wrq_and_modes(void **state)
{
        struct tftp_request req;

        (void)state;
        assert_int_equal(tftp_parse_request(PKT("\0\2up\0octet\0"), &req), 0);
        assert_int_equal(req.opcode, TFTP_OP_WRQ);
        assert_int_equal(tftp_parse_request(PKT("\0\1f\0OcTeT\0"), &req), 0);
        assert_int_equal(req.mode, TFTP_MODE_OCTET);
        assert_int_equal(tftp_parse_request(PKT("\0\1f\0NETASCII\0"), &req), 0);
        assert_int_equal(req.mode, TFTP_MODE_NETASCII);
        assert_int_equal(tftp_parse_request(PKT("\0\1f\0mail\0"), &req), 0);
        assert_int_equal(req.mode, TFTP_MODE_MAIL);
        assert_string_equal(tftp_mode_to_string(TFTP_MODE_NETASCII), "netascii");
}

static void parse_request_errors(void **state)
{
        static const struct {
                const char *pkt;
                size_t len;
        } bad[] = {
#define BAD(s) {s, sizeof(s) - 1}
            BAD(""),
            BAD("\0"),
            BAD("\0\1"),                    /* no filename */
            BAD("\0\1file"),                /* filename without NUL */
            BAD("\0\1file\0"),              /* no mode */
            BAD("\0\1file\0octet"),         /* mode without NUL */
            BAD("\0\1\0octet\0"),           /* empty filename */
            BAD("\0\1f\0binary\0"),         /* unknown mode */
            BAD("\0\1f\0\0"),               /* empty mode */
            BAD("\0\1f\0octet\0blksize\0"), /* name without value */
            BAD("\0\1f\0octet\0blksize\0"
                "512"), /* value without NUL */
            BAD("\0\1f\0octet\0\0"
                "512\0"),          /* empty option name */
            BAD("\0\3f\0octet\0"), /* DATA opcode */
            BAD("\1\1f\0octet\0"), /* opcode 257 */
            BAD("\0\0f\0octet\0"), /* opcode 0 */
#undef BAD
        };
        struct tftp_request req;

        (void)state;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                int r = tftp_parse_request((const uint8_t *)bad[i].pkt, bad[i].len, &req);

                if (r != -EBADMSG)
                        fail_msg("case %zu: got %d, expected -EBADMSG", i, r);
        }
}

static void parse_duplicate_options(void **state)
{
        struct tftp_request req;

        (void)state;
        assert_int_equal(
            tftp_parse_request(PKT("\0\1f\0octet\0blksize\000512\0BLKSIZE\0001024\0"), &req),
            -ENOTUNIQ);
        assert_int_equal(tftp_parse_request(PKT("\0\1f\0octet\0a\0001\0b\0002\0a\0003\0"), &req),
                         -ENOTUNIQ);
}

static void parse_too_many_options(void **state)
{
        uint8_t pkt[TFTP_REQUEST_MAX];
        size_t len = 0;
        struct tftp_request req;

        (void)state;
        memcpy(pkt, "\0\1f\0octet\0", 10);
        len = 10;
        for (int i = 0; i <= TFTP_OPTIONS_MAX; i++) {
                int n = snprintf((char *)pkt + len, sizeof pkt - len, "o%d", i);

                len += (size_t)n + 1;
                pkt[len++] = '1';
                pkt[len++] = '\0';
        }
        assert_int_equal(tftp_parse_request(pkt, len, &req), -E2BIG);
        /* One fewer is fine. */
        assert_int_equal(tftp_parse_request(pkt, len - 6, &req), 0);
        assert_int_equal(req.n_options, TFTP_OPTIONS_MAX);
}

static void parse_request_too_long(void **state)
{
        uint8_t pkt[TFTP_REQUEST_MAX + 1];
        struct tftp_request req;

        (void)state;
        memset(pkt, 'a', sizeof pkt);
        pkt[0] = 0;
        pkt[1] = TFTP_OP_RRQ;
        memcpy(pkt + sizeof pkt - 7, "\0octet\0", 7);
        assert_int_equal(tftp_parse_request(pkt, sizeof pkt, &req), -EMSGSIZE);
        /* The same request one byte shorter is within RFC 2347's 512 octets. */
        memmove(pkt + 2, pkt + 3, sizeof pkt - 3);
        assert_int_equal(tftp_parse_request(pkt, sizeof pkt - 1, &req), 0);
        assert_int_equal(strlen(req.filename), TFTP_REQUEST_MAX - 2 - 7);
}

static void parse_ack(void **state)
{
        struct tftp_reply rep;

        (void)state;
        assert_int_equal(tftp_parse_reply(PKT("\0\4\xff\xfe"), &rep), 0);
        assert_int_equal(rep.opcode, TFTP_OP_ACK);
        assert_int_equal(rep.value, 65534);
        /* Padding after an ACK (some stacks send a minimum frame) is tolerated. */
        assert_int_equal(tftp_parse_reply(PKT("\0\4\0\7\0\0\0"), &rep), 0);
        assert_int_equal(rep.value, 7);
}

static void parse_error_packet(void **state)
{
        struct tftp_reply rep;

        (void)state;
        assert_int_equal(tftp_parse_reply(PKT("\0\5\0\10User aborted the transfer\0"), &rep), 0);
        assert_int_equal(rep.opcode, TFTP_OP_ERROR);
        assert_int_equal(rep.value, TFTP_ERR_OPTION_REFUSED);
        assert_string_equal(rep.message, "User aborted the transfer");
        assert_int_equal(tftp_parse_reply(PKT("\0\5\0\0\0"), &rep), 0);
        assert_string_equal(rep.message, "");
}

static void parse_reply_errors(void **state)
{
        struct tftp_reply rep;

        (void)state;
        assert_int_equal(tftp_parse_reply(PKT(""), &rep), -EBADMSG);
        assert_int_equal(tftp_parse_reply(PKT("\0\4\0"), &rep), -EBADMSG);         /* short ACK */
        assert_int_equal(tftp_parse_reply(PKT("\0\5\0\1"), &rep), -EBADMSG);       /* no message */
        assert_int_equal(tftp_parse_reply(PKT("\0\5\0\1oops"), &rep), -EBADMSG);   /* no NUL */
        assert_int_equal(tftp_parse_reply(PKT("\0\3\0\1data"), &rep), -EBADMSG);   /* DATA */
        assert_int_equal(tftp_parse_reply(PKT("\0\1f\0octet\0"), &rep), -EBADMSG); /* RRQ */
        assert_int_equal(tftp_parse_reply(PKT("\0\6blksize\0008\0"), &rep), -EBADMSG);
}

static void parse_uint_strict(void **state)
{
        uint64_t v = 99;

        (void)state;
        assert_int_equal(tftp_parse_uint("0", 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(tftp_parse_uint("0512", 1000, &v), 0);
        assert_int_equal(v, 512);
        assert_int_equal(tftp_parse_uint("18446744073709551615", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(tftp_parse_uint("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(tftp_parse_uint("1001", 1000, &v), -ERANGE);
        assert_int_equal(tftp_parse_uint("", 10, &v), -EINVAL);
        assert_int_equal(tftp_parse_uint("-1", 10, &v), -EINVAL);
        assert_int_equal(tftp_parse_uint("+1", 10, &v), -EINVAL);
        assert_int_equal(tftp_parse_uint(" 1", 10, &v), -EINVAL);
        assert_int_equal(tftp_parse_uint("1 ", 10, &v), -EINVAL);
        assert_int_equal(tftp_parse_uint("0x10", 100, &v), -EINVAL);
}

/* Negotiates one option "name=value" for a 1000-byte file. */
static struct tftp_negotiated negotiate1(const char *name, const char *value)
{
        struct tftp_request req = {.opcode = TFTP_OP_RRQ, .filename = "f", .n_options = 1};
        struct tftp_negotiated n;

        req.options[0] = (struct tftp_option){.name = name, .value = value};
        tftp_negotiate(&req, &limits, 1000, &n);
        return n;
}

static void negotiate_blksize(void **state)
{
        static const struct {
                const char *value;
                unsigned acked;
                uint16_t blksize;
        } cases[] = {
            {"8", TFTP_OPT_BLKSIZE, 8},         {"512", TFTP_OPT_BLKSIZE, 512},
            {"1024", TFTP_OPT_BLKSIZE, 1024},   {"1468", TFTP_OPT_BLKSIZE, 1468},
            {"1469", TFTP_OPT_BLKSIZE, 1468},   {"65464", TFTP_OPT_BLKSIZE, 1468},
            {"7", 0, TFTP_BLKSIZE_DEFAULT},     {"0", 0, TFTP_BLKSIZE_DEFAULT},
            {"65465", 0, TFTP_BLKSIZE_DEFAULT}, {"99999999999", 0, TFTP_BLKSIZE_DEFAULT},
        };

        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct tftp_negotiated n = negotiate1("blksize", cases[i].value);

                if (n.acked != cases[i].acked || n.blksize != cases[i].blksize)
                        fail_msg("blksize=%s: acked %u blksize %u", cases[i].value, n.acked,
                                 n.blksize);
                assert_int_equal(n.windowsize, 1);
        }
}

static void negotiate_windowsize(void **state)
{
        struct tftp_negotiated n;

        (void)state;
        n = negotiate1("windowsize", "4");
        assert_int_equal(n.acked, TFTP_OPT_WINDOWSIZE);
        assert_int_equal(n.windowsize, 4);
        n = negotiate1("windowsize", "1");
        assert_int_equal(n.windowsize, 1);
        n = negotiate1("windowsize", "65535");
        assert_int_equal(n.acked, TFTP_OPT_WINDOWSIZE);
        assert_int_equal(n.windowsize, 64);
        n = negotiate1("windowsize", "0");
        assert_int_equal(n.acked, 0);
        assert_int_equal(n.windowsize, 1);
        n = negotiate1("windowsize", "65536");
        assert_int_equal(n.acked, 0);
        assert_int_equal(n.windowsize, 1);
}

static void negotiate_timeout(void **state)
{
        struct tftp_negotiated n;

        (void)state;
        n = negotiate1("timeout", "1");
        assert_int_equal(n.acked, TFTP_OPT_TIMEOUT);
        assert_int_equal(n.timeout_s, 1);
        n = negotiate1("timeout", "255");
        assert_int_equal(n.timeout_s, 255);
        n = negotiate1("timeout", "0");
        assert_int_equal(n.acked, 0);
        assert_int_equal(n.timeout_s, 0);
        n = negotiate1("timeout", "256");
        assert_int_equal(n.acked, 0);
}

static void negotiate_tsize(void **state)
{
        struct tftp_request req = {.opcode = TFTP_OP_RRQ, .filename = "f", .n_options = 1};
        struct tftp_negotiated n;

        (void)state;
        req.options[0] = (struct tftp_option){.name = "tsize", .value = "0"};
        tftp_negotiate(&req, &limits, 5000000000ull, &n);
        assert_int_equal(n.acked, TFTP_OPT_TSIZE);
        assert_true(n.tsize == 5000000000ull); /* beyond 32 bits */
        n = negotiate1("tsize", "");
        assert_int_equal(n.acked, 0);
}

static void negotiate_unknown_and_bad_values(void **state)
{
        struct tftp_request req = {.opcode = TFTP_OP_RRQ, .filename = "f", .n_options = 5};
        struct tftp_negotiated n;

        (void)state;
        req.options[0] = (struct tftp_option){.name = "multicast", .value = ""};
        req.options[1] = (struct tftp_option){.name = "blksize", .value = "1024x"};
        req.options[2] = (struct tftp_option){.name = "windowsize", .value = "-4"};
        req.options[3] = (struct tftp_option){.name = "rollover", .value = "0"};
        req.options[4] = (struct tftp_option){.name = "timeout", .value = "3"};
        tftp_negotiate(&req, &limits, 10, &n);
        assert_int_equal(n.acked, TFTP_OPT_TIMEOUT);
        assert_int_equal(n.blksize, TFTP_BLKSIZE_DEFAULT);
        assert_int_equal(n.windowsize, 1);
        n = negotiate1("foo", "bar");
        assert_int_equal(n.acked, 0);
}

static void negotiate_case_insensitive(void **state)
{
        struct tftp_negotiated n;

        (void)state;
        n = negotiate1("BlkSize", "1024");
        assert_int_equal(n.acked, TFTP_OPT_BLKSIZE);
        assert_int_equal(n.blksize, 1024);
        n = negotiate1("WINDOWSIZE", "8");
        assert_int_equal(n.windowsize, 8);
}

static void build_oack(void **state)
{
        static const uint8_t want[] = "\0\6blksize\0001024\0tsize\0005000000000\0timeout\0003\0"
                                      "windowsize\0004";
        struct tftp_negotiated n = {.acked = TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE | TFTP_OPT_TIMEOUT |
                                             TFTP_OPT_WINDOWSIZE,
                                    .blksize = 1024,
                                    .windowsize = 4,
                                    .timeout_s = 3,
                                    .tsize = 5000000000ull};
        uint8_t buf[TFTP_OACK_MAX];
        int len;

        (void)state;
        len = tftp_build_oack(buf, sizeof buf, &n);
        assert_int_equal(len, sizeof want);
        assert_memory_equal(buf, want, sizeof want);
        /* Only acknowledged options appear. */
        n.acked = TFTP_OPT_TSIZE;
        len = tftp_build_oack(buf, sizeof buf, &n);
        assert_int_equal(len, 2 + 6 + 11);
        assert_memory_equal(buf, "\0\6tsize\0005000000000", 19);
        assert_int_equal(tftp_build_oack(buf, 10, &n), -ENOBUFS);
        /* The largest OACK fits TFTP_OACK_MAX. */
        n = (struct tftp_negotiated){.acked = 0xf,
                                     .blksize = 65535,
                                     .windowsize = 65535,
                                     .timeout_s = 255,
                                     .tsize = UINT64_MAX};
        assert_true(tftp_build_oack(buf, sizeof buf, &n) > 0);
}

static void build_error(void **state)
{
        uint8_t buf[TFTP_HEADER_SIZE + TFTP_ERROR_MSG_MAX + 1];
        char longmsg[300];
        int len;

        (void)state;
        len = tftp_build_error(buf, sizeof buf, TFTP_ERR_NOT_FOUND, "file not found");
        assert_int_equal(len, 4 + 14 + 1);
        assert_memory_equal(buf, "\0\5\0\1file not found\0", 19);
        memset(longmsg, 'x', sizeof longmsg - 1);
        longmsg[sizeof longmsg - 1] = '\0';
        len = tftp_build_error(buf, sizeof buf, 0, longmsg);
        assert_int_equal(len, sizeof buf);
        assert_int_equal(buf[sizeof buf - 1], 0);
        assert_int_equal(tftp_build_error(buf, 5, 0, "ab"), -ENOBUFS);
}

static void build_ack_and_data(void **state)
{
        uint8_t buf[8];

        (void)state;
        assert_int_equal(tftp_build_ack(buf, sizeof buf, 0xabcd), 4);
        assert_memory_equal(buf, "\0\4\xab\xcd", 4);
        assert_int_equal(tftp_build_ack(buf, 3, 1), -ENOBUFS);
        tftp_put_data_header(buf, 65535);
        assert_memory_equal(buf, "\0\3\xff\xff", 4);
}

static void clean_filename_accepts(void **state)
{
        static const char *const cases[][2] = {
            {"pxelinux.0", "pxelinux.0"},
            {"/grub/grub.cfg", "grub/grub.cfg"},
            {"///grub/grub.cfg", "grub/grub.cfg"},
            {"\\boot\\x64\\wdsnbp.com", "boot/x64/wdsnbp.com"},
            {"a/./b", "a/./b"},
            {"..a/b..", "..a/b.."},
            {"a//b", "a//b"},
        };
        char out[64];

        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                assert_int_equal(tftp_clean_filename(cases[i][0], out, sizeof out), 0);
                assert_string_equal(out, cases[i][1]);
        }
}

static void clean_filename_refuses(void **state)
{
        static const char *const cases[] = {
            "..", "../x", "a/../../x", "a/..", "/..",  "\\..\\x", "a\\..\\b",
            "/",  "///",  "\\",        "a\tb", "a\nb", "del\x7f",
        };
        char out[64];

        (void)state;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                if (tftp_clean_filename(cases[i], out, sizeof out) != -EACCES)
                        fail_msg("'%s' was not refused", cases[i]);
        assert_int_equal(tftp_clean_filename("abcdefgh", out, 8), -ENAMETOOLONG);
        assert_int_equal(tftp_clean_filename("abcdefg", out, 8), 0);
}

static void escape_for_logs(void **state)
{
        char out[TFTP_ESCAPED_MAX], longname[200];

        (void)state;
        assert_string_equal(tftp_escape("grub.cfg", out), "'grub.cfg'");
        assert_string_equal(tftp_escape("a'b\\c\n\x1b[31m\xff", out),
                            "'a\\x27b\\x5cc\\x0a\\x1b[31m\\xff'");
        memset(longname, '\x01', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        tftp_escape(longname, out);
        assert_int_equal(strlen(out), 2 + 64 * 4 + 3);
        assert_string_equal(out + strlen(out) - 4, "'...");
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(parse_rrq_plain),
            cmocka_unit_test(parse_rrq_options),
            cmocka_unit_test(parse_wrq_and_modes),
            cmocka_unit_test(parse_request_errors),
            cmocka_unit_test(parse_duplicate_options),
            cmocka_unit_test(parse_too_many_options),
            cmocka_unit_test(parse_request_too_long),
            cmocka_unit_test(parse_ack),
            cmocka_unit_test(parse_error_packet),
            cmocka_unit_test(parse_reply_errors),
            cmocka_unit_test(parse_uint_strict),
            cmocka_unit_test(negotiate_blksize),
            cmocka_unit_test(negotiate_windowsize),
            cmocka_unit_test(negotiate_timeout),
            cmocka_unit_test(negotiate_tsize),
            cmocka_unit_test(negotiate_unknown_and_bad_values),
            cmocka_unit_test(negotiate_case_insensitive),
            cmocka_unit_test(build_oack),
            cmocka_unit_test(build_error),
            cmocka_unit_test(build_ack_and_data),
            cmocka_unit_test(clean_filename_accepts),
            cmocka_unit_test(clean_filename_refuses),
            cmocka_unit_test(escape_for_logs),
        };

        return pxf_test_main(tests, argc, argv);
}
