/* fuzz-dhcp-conf: a libFuzzer entry point for the dnsmasq.conf generator.
 *
 * The input is a mode byte and then the string fields of struct dhcp_config and struct
 * dhcp_boot_files, NUL-separated (an empty field is NULL). Whenever dhcp_config_render()
 * accepts an input, its text must consist only of lines the generator writes: comments and
 * known options, each with the number of commas its form has. A newline, comma or option
 * smuggled in through any field breaks that and aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp-glue/dhcp-glue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 14

/* Option name and the comma counts its lines may have (-1 ends the list). */
static const struct {
        const char *key;
        int commas[4];
} allowed[] = {
    {"port", {0, -1}},
    {"no-resolv", {0, -1}},
    {"no-hosts", {0, -1}},
    {"interface", {0, -1}},
    {"except-interface", {0, -1}},
    {"bind-interfaces", {0, -1}},
    {"log-dhcp", {0, -1}},
    {"dhcp-no-override", {0, -1}},
    {"dhcp-leasefile", {0, -1}},
    {"dhcp-authoritative", {0, -1}},
    {"dhcp-range", {1, 2, 3, -1}},
    {"dhcp-option", {0, 1, -1}},
    {"dhcp-match", {1, 2, -1}},
    {"pxe-service", {3, 4, -1}},
    {"dhcp-boot", {1, 4, -1}},
    {"dhcp-pxe-vendor", {1, -1}},
    {"dhcp-option-force", {2, -1}},
};

static void check_line(const char *line, size_t len)
{
        size_t key_len = strcspn(line, "=\n");
        int commas = 0;

        if (len == 0 || line[0] == '#')
                return;
        for (size_t i = 0; i < len; i++)
                commas += line[i] == ',';
        for (size_t i = 0; i < PXF_ELEMENTSOF(allowed); i++) {
                if (strlen(allowed[i].key) != key_len || strncmp(line, allowed[i].key, key_len))
                        continue;
                for (const int *c = allowed[i].commas; *c >= 0; c++)
                        if (*c == commas)
                                return;
        }
        abort(); /* a line the generator never writes */
}

static void check_text(const char *text)
{
        while (*text) {
                const char *nl = strchr(text, '\n');
                size_t len = nl ? (size_t)(nl - text) : strlen(text);
                check_line(text, len);
                text += len + (nl ? 1 : 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *buf = NULL;
        const char *f[NFIELDS] = {0};
        char *p, *text = NULL;
        struct pxf_error err;

        if (size < 1)
                return 0;
        buf = pxf_calloc(1, size + 1);
        memcpy(buf, data + 1, size - 1);
        p = buf;
        for (size_t i = 0; i < NFIELDS && p < buf + size; i++) {
                f[i] = *p ? p : NULL;
                p += strlen(p) + 1;
        }
        struct dhcp_config c = {.mode = data[0] & 1 ? DHCP_AUTHORITATIVE : DHCP_PROXY,
                                .interface = f[0],
                                .server_address = f[1],
                                .range_start = f[2],
                                .range_end = f[3],
                                .netmask = f[4],
                                .router = f[5],
                                .lease_file = f[6],
                                .http_base_url = f[7],
                                .lease_seconds = (unsigned)(data[0] >> 1) * 60};
        struct dhcp_boot_files b = {.uefi_x64 = f[8],
                                    .uefi_arm64 = f[9],
                                    .bios = f[10],
                                    .uefi_x64_http = f[11],
                                    .uefi_arm64_http = f[12],
                                    .ipxe_script = f[13]};
        if (dhcp_config_render(&c, &b, &text, &err) == 0)
                check_text(text);
        free(text);
        pxf_strv_free(dhcp_boot_notes(&c, &b));
        return 0;
}
