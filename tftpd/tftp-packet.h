/* tftp-packet: the pure TFTP codec (RFC 1350, 2347, 2348, 2349, 7440).
 *
 * No I/O, no allocation, no logging. It parses what a client sends (RRQ/WRQ, ACK, ERROR),
 * builds what the server sends (DATA header, OACK, ERROR), decides option negotiation, and
 * cleans up requested file names. Parsed strings point into the caller's packet buffer and
 * stay valid as long as it does. Every function is bounded by the packet length, so it can
 * be fed arbitrary bytes (see fuzz-tftp-packet.c).
 *
 * Functions return 0 (or a byte count) on success and a negative errno on failure:
 * -EBADMSG malformed packet, -EMSGSIZE request over TFTP_REQUEST_MAX, -ENOTUNIQ duplicate
 * option, -E2BIG more than TFTP_OPTIONS_MAX options, -ENOBUFS output buffer too small.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TFTP_HEADER_SIZE     4   /* opcode + block number or error code */
#define TFTP_REQUEST_MAX     512 /* RFC 2347: a request with options fits in 512 octets */
#define TFTP_OPTIONS_MAX     16  /* name/value pairs; real clients send at most four */
#define TFTP_BLKSIZE_DEFAULT 512
#define TFTP_BLKSIZE_MIN     8     /* RFC 2348 */
#define TFTP_BLKSIZE_MAX     65464 /* RFC 2348 */
#define TFTP_TIMEOUT_MIN     1     /* RFC 2349, seconds */
#define TFTP_TIMEOUT_MAX     255
#define TFTP_WINDOWSIZE_MIN  1 /* RFC 7440 */
#define TFTP_WINDOWSIZE_MAX  65535
#define TFTP_ERROR_MSG_MAX   128 /* messages we build are cut to this many bytes */
#define TFTP_OACK_MAX        128 /* the four options we acknowledge, with 20-digit values */
#define TFTP_ESCAPED_MAX     (4 * 64 + 8) /* tftp_escape() output for logs, quotes included */

enum tftp_opcode {
        TFTP_OP_RRQ = 1,
        TFTP_OP_WRQ = 2,
        TFTP_OP_DATA = 3,
        TFTP_OP_ACK = 4,
        TFTP_OP_ERROR = 5,
        TFTP_OP_OACK = 6,
};

enum tftp_error_code {
        TFTP_ERR_UNDEFINED = 0,
        TFTP_ERR_NOT_FOUND = 1,
        TFTP_ERR_ACCESS = 2,
        TFTP_ERR_DISK_FULL = 3,
        TFTP_ERR_ILLEGAL_OP = 4,
        TFTP_ERR_UNKNOWN_TID = 5,
        TFTP_ERR_FILE_EXISTS = 6,
        TFTP_ERR_NO_USER = 7,
        TFTP_ERR_OPTION_REFUSED = 8, /* RFC 2347 */
};

enum tftp_mode {
        TFTP_MODE_OCTET,
        TFTP_MODE_NETASCII,
        TFTP_MODE_MAIL,
};

struct tftp_option {
        const char *name; /* never empty; compared case-insensitively */
        const char *value;
};

/* A read or write request. */
struct tftp_request {
        enum tftp_opcode opcode; /* TFTP_OP_RRQ or TFTP_OP_WRQ */
        enum tftp_mode mode;
        const char *filename; /* never empty; still unchecked (see tftp_clean_filename) */
        size_t n_options;
        struct tftp_option options[TFTP_OPTIONS_MAX];
};

/* What a client sends on a transfer: ACK (value = block) or ERROR (value = error code). */
struct tftp_reply {
        enum tftp_opcode opcode;
        uint16_t value;
        const char *message; /* ERROR only */
};

/* Bit set of the options the server acknowledges in its OACK. */
enum {
        TFTP_OPT_BLKSIZE = 1u << 0,
        TFTP_OPT_TSIZE = 1u << 1,
        TFTP_OPT_TIMEOUT = 1u << 2,
        TFTP_OPT_WINDOWSIZE = 1u << 3,
};

/* Server-side caps for negotiation; both must be at least 1 (blksize at least 8). */
struct tftp_limits {
        uint16_t max_blksize;
        uint16_t max_windowsize;
};

/* The outcome of negotiation: what the transfer uses and what the OACK says. */
struct tftp_negotiated {
        unsigned acked;      /* TFTP_OPT_* bits; 0 means no OACK, DATA 1 comes first */
        uint16_t blksize;    /* TFTP_BLKSIZE_DEFAULT unless acked */
        uint16_t windowsize; /* 1 unless acked */
        uint8_t timeout_s;   /* 0 unless acked */
        uint64_t tsize;      /* the file size when acked */
};

/* Parses an RRQ or WRQ: opcode, NUL-terminated non-empty filename, NUL-terminated mode
 * (octet, netascii or mail, any case), then complete name/value pairs with non-empty,
 * unique names. Values may be empty (negotiation ignores what it cannot read). */
int tftp_parse_request(const uint8_t *pkt, size_t len, struct tftp_request *ret);

/* Parses an ACK (exactly 4 bytes; trailing bytes are tolerated as some stacks pad) or an
 * ERROR (code and a NUL-terminated message). Any other opcode is -EBADMSG. */
int tftp_parse_reply(const uint8_t *pkt, size_t len, struct tftp_reply *ret);

/* Strict decimal: digits only, no sign or space, at most max. -EINVAL or -ERANGE. */
int tftp_parse_uint(const char *s, uint64_t max, uint64_t *ret);

/* RFC 2347/2348/2349/7440 negotiation for a read request of a file_size-byte file.
 * Out-of-range or unreadable values leave their option unacknowledged (RFC 2348: such a
 * request is answered as if the option was absent); in-range values above the server's
 * caps are lowered to them. timeout is echoed exactly (clients such as EDK2 demand it).
 * Unknown options are ignored. */
void tftp_negotiate(const struct tftp_request *req, const struct tftp_limits *lim,
                    uint64_t file_size, struct tftp_negotiated *ret);

/* Builders: write into buf (cap bytes) and return the packet length. */
int tftp_build_oack(uint8_t *buf, size_t cap, const struct tftp_negotiated *n);
int tftp_build_error(uint8_t *buf, size_t cap, uint16_t code, const char *msg);
int tftp_build_ack(uint8_t *buf, size_t cap, uint16_t block);
/* Writes the 4-byte DATA header; the caller puts up to blksize payload bytes after it. */
void tftp_put_data_header(uint8_t *buf, uint16_t block);

/* Turns a requested name into a path relative to the served root, into out (cap bytes):
 * backslashes become '/', leading slashes are dropped (PXE clients send both "/grub/x"
 * and "grub/x" for the same file). Refuses (-EACCES) an empty result, a ".." component and
 * bytes below 0x20 or 0x7f; -ENAMETOOLONG when it does not fit. Confinement itself is
 * openat2(RESOLVE_BENEATH)'s job; this is the first line. */
int tftp_clean_filename(const char *in, char *out, size_t cap);

/* Quotes s for a log line: 'text', with quote, backslash and non-printable bytes as \xHH,
 * cut after 64 input bytes with "..." appended. out needs TFTP_ESCAPED_MAX bytes. */
const char *tftp_escape(const char *s, char out[static TFTP_ESCAPED_MAX]);

const char *tftp_mode_to_string(enum tftp_mode m);
