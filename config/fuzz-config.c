/* fuzz-config: a libFuzzer entry point for the config loader.
 *
 * Build with clang -fsanitize=fuzzer (outside CMake), or link with tests/unit/fuzz-replay.c
 * to replay a corpus with any compiler. Every input is loaded as a config; each diag is
 * formatted and everything is freed, so leaks and overflows show up under ASan. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cfg_diags diags = {0};
        struct cfg_config *cfg = NULL;

        if (cfg_load_buffer("fuzz.yaml", (const char *)data, size, "/nonexistent", &cfg, &diags) ==
            0)
                (void)cfg_validate_files(cfg, &diags);
        for (size_t i = 0; i < diags.n; i++)
                free(cfg_diag_format(&diags.items[i]));
        cfg_diags_clear(&diags);
        cfg_free(cfg);
        return 0;
}
