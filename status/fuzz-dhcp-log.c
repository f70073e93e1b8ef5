/* fuzz-dhcp-log: a libFuzzer entry point for dnsmasq's lines as timeline events.
 *
 * The input is a run of lines as the appliance passes dnsmasq's output on (a client
 * chooses its vendor class and host name, so any bytes may come): each goes through the
 * parser into a small timeline, whose JSON and table are then written, and every byte of
 * the table must be printable or a newline. Replayed over tests/fuzz-corpus/dhcp-log in
 * normal builds (tests/unit/fuzz-replay.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status/dhcp-log.h"
#include "status/timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_table(const struct timeline *tl)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                abort();
        tl_write_text(tl, f, 1796560000000000ull, 1);
        if (fclose(f) != 0)
                abort();
        for (size_t i = 0; i < len; i++)
                if (buf[i] != '\n' && ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f))
                        abort(); /* a client's control character reached the terminal */
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct timeline *tl = tl_new(8);
        struct dhcp_log *d = dhcp_log_new(tl);
        char *text = malloc(size + 1);
        FILE *null = fopen("/dev/null", "w");
        uint64_t t = 1796560000000000ull;

        if (!text || !null)
                abort();
        memcpy(text, data, size);
        text[size] = '\0';
        for (char *line = text, *end; line; line = end ? end + 1 : NULL) {
                end = strchr(line, '\n');
                if (end)
                        *end = '\0';
                dhcp_log_line(d, line, t++);
        }
        tl_write_json(tl, null, t, 1);
        check_table(tl);
        (void)fclose(null);
        free(text);
        dhcp_log_free(d);
        tl_free(tl);
        return 0;
}
