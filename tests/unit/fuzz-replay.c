/* fuzz-replay: runs LLVMFuzzerTestOneInput on every file named on the command line, so a
 * fuzz corpus (and any crash reproducer) can be replayed without libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
        int failed = 0;

        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                int r = pxf_read_file(argv[i], 16 * 1024 * 1024, &buf, &len);

                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
                        failed = 1;
                        continue;
                }
                LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        }
        printf("replayed %d file(s)\n", argc - 1);
        return failed;
}
