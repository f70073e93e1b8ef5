/* fuzz-status-files: a libFuzzer entry point for what the status module reads that is not
 * a DHCP line: the timeline's history file (tl_load) and a booted system's report body
 * (report_parse).
 *
 * The first byte chooses. A history that loads must save to text that loads and saves to
 * the same text again (nothing is lost or changed by a restart after the first); a report
 * that parses must hold only printable ASCII. Replayed over
 * tests/fuzz-corpus/status-files in normal builds (tests/unit/fuzz-replay.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status/report.h"
#include "status/timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *saved(const struct timeline *tl, size_t *len)
{
        char *buf = NULL;
        FILE *f = open_memstream(&buf, len);

        if (!f)
                abort();
        tl_save(tl, f);
        if (fclose(f) != 0)
                abort();
        return buf;
}

static struct timeline *loaded(const void *text, size_t len)
{
        struct timeline *tl = tl_new(16);
        FILE *f = len ? fmemopen((void *)text, len, "r") : NULL;

        if (f) {
                (void)tl_load(tl, f);
                (void)fclose(f);
        }
        return tl;
}

static void history(const uint8_t *data, size_t size)
{
        struct timeline *first = loaded(data, size), *second;
        size_t len1 = 0, len2 = 0;
        char *text1 = saved(first, &len1), *text2;

        second = loaded(text1, len1);
        text2 = saved(second, &len2);
        if (len1 != len2 || memcmp(text1, text2, len1) != 0)
                abort(); /* a restart changed what was kept */
        free(text1);
        free(text2);
        tl_free(first);
        tl_free(second);
}

static void report(const uint8_t *data, size_t size)
{
        struct report_fields f;
        const char *why;

        if (report_parse((const char *)data, size, &f, &why) != 0)
                return;
        for (const char *s = f.hostname; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        if (data[0] & 1)
                report(data + 1, size - 1);
        else
                history(data + 1, size - 1);
        return 0;
}
