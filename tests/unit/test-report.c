/* Unit tests of a booted system's report (status/report.h): the body's lines, what is
 * refused and why, the per-address limit, and the counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "status/report.h"
#include "tests/lib/test-main.h"

#define SEC   1000000ull
#define T0    (1796560000ull * SEC)
#define MAC_A "52:54:00:00:00:0a"

static void parse_ok(const char *body, struct report_fields *f)
{
        const char *why = NULL;

        if (report_parse(body, strlen(body), f, &why) != 0)
                fail_msg("'%s' refused: %s", body, why);
}

static void parse_refused(const char *body, size_t len, const char *reason)
{
        struct report_fields f;
        const char *why = NULL;

        assert_int_equal(report_parse(body, len, &f, &why), -EINVAL);
        if (!why || !strstr(why, reason))
                fail_msg("'%.*s': '%s', not '%s'", (int)len, body, why ? why : "", reason);
}

static void the_body_is_key_value_lines(void **state)
{
        struct report_fields f;
        (void)state;

        parse_ok("mac=" MAC_A "\nhostname=rack1-n7\nkernel=6.12.48+deb13-amd64\nbootMs=41250\n",
                 &f);
        assert_string_equal(f.mac, MAC_A);
        assert_string_equal(f.hostname, "rack1-n7");
        assert_string_equal(f.kernel, "6.12.48+deb13-amd64");
        assert_int_equal(f.boot_ms, 41250);
        /* CRLF, no final line break, keys a newer unit sends, blank lines */
        parse_ok("mac=" MAC_A "\r\n\r\nuptimeIdle=3\r\nhostname=a b", &f);
        assert_string_equal(f.hostname, "a b");
        assert_int_equal(f.boot_ms, 0);
        parse_ok("mac=" MAC_A "\r", &f);
        assert_string_equal(f.mac, MAC_A);
}

static void hostile_bodies_are_refused(void **state)
{
        char long_value[200];
        char body[300];
        (void)state;

        parse_refused("", 0, "mac= is missing");
        parse_refused("hostname=x\n", 11, "mac= is missing");
        parse_refused("mac=" MAC_A "\nmac=" MAC_A "\n", 40, "twice");
        parse_refused("mac\n", 4, "not key=value");
        parse_refused("=x\n", 3, "not key=value");
        parse_refused("mac=\n", 5, "empty");
        parse_refused("mac=" MAC_A "\nhostname=<b>\033[2J</b>\n", 39, "printable ASCII");
        parse_refused("mac=" MAC_A "\nhostname=a\0b\n", 33, "printable ASCII");
        parse_refused("mac=" MAC_A "\nbootMs=-5\n", 32, "bootMs");
        parse_refused("mac=" MAC_A "\nbootMs=99999999999999999999\n", 50, "bootMs");
        parse_refused("mac=" MAC_A "\nbootMs=1\nbootMs=2\n", 40, "bootMs");
        memset(long_value, 'x', sizeof long_value - 1);
        long_value[sizeof long_value - 1] = '\0';
        (void)snprintf(body, sizeof body, "mac=%s\n", long_value);
        parse_refused(body, strlen(body), "longer than 128");
}

static int receive(struct reports *r, const char *ip, const char *body, uint64_t now, char **answer)
{
        size_t len = 0;
        FILE *f = open_memstream(answer, &len);
        int status;

        assert_non_null(f);
        status = reports_receive(r, ip, body, strlen(body), now, f);
        assert_int_equal(fclose(f), 0);
        return status;
}

static void expect_status(struct reports *r, const char *ip, const char *body, uint64_t now,
                          int status, const char *answer)
{
        _cleanup_free_ char *got = NULL;
        int s = receive(r, ip, body, now, &got);

        if (s != status || !strstr(got, answer))
                fail_msg("%s from %s: %d '%s', not %d '%s'", body, ip, s, got, status, answer);
}

/* Known machines are booted; unknown ones, mismatches and floods are refused and counted,
 * and a refusal changes nothing. */
static void reports_are_filed_limited_and_counted(void **state)
{
        struct timeline *tl = tl_new(0);
        struct reports *r = reports_new(tl);
        _cleanup_free_ char *metrics = NULL, *json = NULL;
        size_t len = 0;
        FILE *f;
        (void)state;

        assert_int_equal(tl_dhcp(tl, MAC_A, "10.0.0.5", NULL, NULL, T0), 0);
        expect_status(r, "10.0.0.9", "mac=52:54:00:00:00:0b\n", T0, 403, "has not seen");
        expect_status(r, "10.0.0.6", "mac=" MAC_A "\n", T0, 403, "another");
        expect_status(r, "10.0.0.5", "mac=52:54:00:00:00\n", T0, 400, "not a MAC");
        expect_status(r, "10.0.0.5", "mac=" MAC_A "\nhostname=n1\nbootMs=30000\n", T0 + SEC, 200,
                      "recorded");
        expect_status(r, "10.0.0.5", "mac=" MAC_A "\n", T0 + 2 * SEC, 200, "recorded");
        /* 10.0.0.5 used its three; the fourth waits for REPORT_REFILL_USEC */
        expect_status(r, "10.0.0.5", "mac=" MAC_A "\n", T0 + 2 * SEC, 429, "too many");
        expect_status(r, "10.0.0.5", "mac=" MAC_A "\n", T0 + 2 * SEC + REPORT_REFILL_USEC, 200,
                      "recorded");
        assert_int_equal(tl_count(tl), 1);
        f = open_memstream(&json, &len);
        tl_write_json(tl, f, T0 + 60 * SEC, 120 * SEC);
        assert_int_equal(fclose(f), 0);
        assert_non_null(strstr(json, "\"hostname\":\"n1\""));
        assert_non_null(strstr(json, "\"stage\":\"booted\""));
        f = open_memstream(&metrics, &len);
        reports_write_metrics(r, 7, f);
        assert_int_equal(fclose(f), 0);
        assert_non_null(strstr(metrics, "pxeforge_boot_reports_total{result=\"accepted\"} 3\n"));
        assert_non_null(strstr(metrics, "pxeforge_boot_reports_total{result=\"malformed\"} 1\n"));
        assert_non_null(
            strstr(metrics, "pxeforge_boot_reports_total{result=\"unknown-machine\"} 1\n"));
        assert_non_null(strstr(metrics, "pxeforge_boot_reports_total{result=\"mismatch\"} 1\n"));
        assert_non_null(
            strstr(metrics, "pxeforge_boot_reports_total{result=\"rate-limited\"} 1\n"));
        assert_non_null(strstr(metrics, "pxeforge_boot_reports_total{result=\"too-large\"} 7\n"));
        reports_free(r);
        tl_free(tl);
}

/* A flood from many addresses cannot grow the table past REPORT_SOURCES. */
static void the_table_of_reporters_is_bounded(void **state)
{
        struct timeline *tl = tl_new(0);
        struct reports *r = reports_new(tl);
        char ip[32];
        (void)state;

        for (unsigned i = 0; i < 3 * REPORT_SOURCES; i++) {
                _cleanup_free_ char *got = NULL;
                (void)snprintf(ip, sizeof ip, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
                assert_int_equal(receive(r, ip, "mac=" MAC_A "\n", T0 + i, &got), 403);
        }
        assert_int_equal(tl_count(tl), 0);
        reports_free(r);
        tl_free(tl);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(the_body_is_key_value_lines),
            cmocka_unit_test(hostile_bodies_are_refused),
            cmocka_unit_test(reports_are_filed_limited_and_counted),
            cmocka_unit_test(the_table_of_reporters_is_bounded),
        };

        return pxf_test_main(tests, argc, argv);
}
