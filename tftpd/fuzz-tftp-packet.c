/* fuzz-tftp-packet: a libFuzzer entry point for the TFTP codec.
 *
 * Every input is read as a request (then negotiated, answered with an OACK, its file name
 * cleaned and escaped for a log line) and as a transfer reply. The invariants the server
 * relies on are checked with abort(), so a violation counts as a crash. Linked with
 * tests/unit/fuzz-replay.c it replays the seed corpus with any compiler. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tftpd/tftp-packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_negotiation(const struct tftp_request *req, const struct tftp_limits *lim,
                              uint64_t file_size)
{
        struct tftp_negotiated n;
        uint8_t oack[TFTP_OACK_MAX];
        int len;

        tftp_negotiate(req, lim, file_size, &n);
        /* Unacknowledged options keep the RFC 1350 values, whatever the caps. */
        if ((n.acked & TFTP_OPT_BLKSIZE)
                ? n.blksize < TFTP_BLKSIZE_MIN || n.blksize > lim->max_blksize
                : n.blksize != TFTP_BLKSIZE_DEFAULT)
                abort();
        if ((n.acked & TFTP_OPT_WINDOWSIZE) ? n.windowsize < 1 || n.windowsize > lim->max_windowsize
                                            : n.windowsize != 1)
                abort();
        if ((n.acked & TFTP_OPT_TIMEOUT) ? n.timeout_s == 0 : n.timeout_s != 0)
                abort();
        if ((n.acked & TFTP_OPT_TSIZE) && n.tsize != file_size)
                abort();
        len = tftp_build_oack(oack, sizeof oack, &n);
        if (len < 2 || (n.acked != 0) != (len > 2))
                abort();
}

static void check_filename(const char *name)
{
        char clean[TFTP_REQUEST_MAX], esc[TFTP_ESCAPED_MAX];

        if (tftp_clean_filename(name, clean, sizeof clean) == 0) {
                /* What reaches openat2: relative, no "..", no control bytes. */
                if (clean[0] == '/' || clean[0] == '\0' || strchr(clean, '\\'))
                        abort();
                if (strcmp(clean, "..") == 0 || strncmp(clean, "../", 3) == 0 ||
                    strstr(clean, "/../") ||
                    (strlen(clean) >= 3 && strcmp(clean + strlen(clean) - 3, "/..") == 0))
                        abort();
        }
        if (strlen(tftp_escape(name, esc)) >= TFTP_ESCAPED_MAX)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct tftp_limits lims[] = {{8, 1}, {1468, 64}, {65464, 65535}};
        struct tftp_request req;
        struct tftp_reply rep;

        if (tftp_parse_request(data, size, &req) == 0) {
                if (req.filename[0] == '\0' || req.n_options > TFTP_OPTIONS_MAX)
                        abort();
                for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++)
                        check_negotiation(&req, &lims[i], size * 1000003u);
                check_filename(req.filename);
        }
        if (tftp_parse_reply(data, size, &rep) == 0 && rep.opcode == TFTP_OP_ERROR) {
                char esc[TFTP_ESCAPED_MAX];

                (void)tftp_escape(rep.message, esc);
        }
        return 0;
}
