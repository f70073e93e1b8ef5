/* tftp-packet: pure TFTP codec; see tftp-packet.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tftpd/tftp-packet.h"

static uint16_t get_u16(const uint8_t *p)
{
        return (uint16_t)((p[0] << 8) | p[1]);
}

static void put_u16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)(v & 0xff);
}

/* Takes the NUL-terminated string at *pos; -EBADMSG if the packet ends before its NUL. */
static int take_string(const uint8_t *pkt, size_t len, size_t *pos, const char **ret)
{
        const uint8_t *nul;

        if (*pos >= len)
                return -EBADMSG;
        nul = memchr(pkt + *pos, '\0', len - *pos);
        if (!nul)
                return -EBADMSG;
        *ret = (const char *)pkt + *pos;
        *pos = (size_t)(nul - pkt) + 1;
        return 0;
}

static int parse_mode(const char *s, enum tftp_mode *ret)
{
        static const char *const names[] = {
            [TFTP_MODE_OCTET] = "octet",
            [TFTP_MODE_NETASCII] = "netascii",
            [TFTP_MODE_MAIL] = "mail",
        };

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (strcasecmp(s, names[i]) == 0) {
                        *ret = (enum tftp_mode)i;
                        return 0;
                }
        return -EBADMSG;
}

static int add_option(struct tftp_request *req, const char *name, const char *value)
{
        if (name[0] == '\0')
                return -EBADMSG;
        for (size_t i = 0; i < req->n_options; i++)
                if (strcasecmp(req->options[i].name, name) == 0)
                        return -ENOTUNIQ;
        if (req->n_options >= TFTP_OPTIONS_MAX)
                return -E2BIG;
        req->options[req->n_options++] = (struct tftp_option){.name = name, .value = value};
        return 0;
}

int tftp_parse_request(const uint8_t *pkt, size_t len, struct tftp_request *ret)
{
        struct tftp_request req = {0};
        const char *mode;
        size_t pos = 2;
        int r;

        if (len > TFTP_REQUEST_MAX)
                return -EMSGSIZE;
        if (len < 2)
                return -EBADMSG;
        req.opcode = get_u16(pkt);
        if (req.opcode != TFTP_OP_RRQ && req.opcode != TFTP_OP_WRQ)
                return -EBADMSG;
        r = take_string(pkt, len, &pos, &req.filename);
        if (r < 0 || req.filename[0] == '\0')
                return -EBADMSG;
        r = take_string(pkt, len, &pos, &mode);
        if (r < 0 || parse_mode(mode, &req.mode) < 0)
                return -EBADMSG;
        while (pos < len) {
                const char *name, *value;

                if (take_string(pkt, len, &pos, &name) < 0 ||
                    take_string(pkt, len, &pos, &value) < 0)
                        return -EBADMSG;
                r = add_option(&req, name, value);
                if (r < 0)
                        return r;
        }
        *ret = req;
        return 0;
}

int tftp_parse_reply(const uint8_t *pkt, size_t len, struct tftp_reply *ret)
{
        struct tftp_reply rep = {0};
        size_t pos = TFTP_HEADER_SIZE;

        if (len < TFTP_HEADER_SIZE)
                return -EBADMSG;
        rep.opcode = get_u16(pkt);
        rep.value = get_u16(pkt + 2);
        if (rep.opcode == TFTP_OP_ERROR) {
                if (take_string(pkt, len, &pos, &rep.message) < 0)
                        return -EBADMSG;
        } else if (rep.opcode != TFTP_OP_ACK)
                return -EBADMSG;
        *ret = rep;
        return 0;
}

int tftp_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (s[0] == '\0')
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                unsigned d;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                d = (unsigned)(*p - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static uint16_t clamp_u16(uint64_t v, uint16_t max)
{
        return v > max ? max : (uint16_t)v;
}

/* Applies one option; returns the TFTP_OPT_* bit it earned, or 0 when ignored. */
static unsigned negotiate_one(const struct tftp_option *o, const struct tftp_limits *lim,
                              uint64_t file_size, struct tftp_negotiated *n)
{
        uint64_t v;

        if (tftp_parse_uint(o->value, UINT64_MAX, &v) < 0)
                return 0;
        if (strcasecmp(o->name, "blksize") == 0) {
                if (v < TFTP_BLKSIZE_MIN || v > TFTP_BLKSIZE_MAX)
                        return 0;
                n->blksize = clamp_u16(v, lim->max_blksize);
                return TFTP_OPT_BLKSIZE;
        }
        if (strcasecmp(o->name, "windowsize") == 0) {
                if (v < TFTP_WINDOWSIZE_MIN || v > TFTP_WINDOWSIZE_MAX)
                        return 0;
                n->windowsize = clamp_u16(v, lim->max_windowsize);
                return TFTP_OPT_WINDOWSIZE;
        }
        if (strcasecmp(o->name, "timeout") == 0) {
                if (v < TFTP_TIMEOUT_MIN || v > TFTP_TIMEOUT_MAX)
                        return 0;
                n->timeout_s = (uint8_t)v;
                return TFTP_OPT_TIMEOUT;
        }
        if (strcasecmp(o->name, "tsize") == 0) {
                /* RFC 2349: an RRQ carries 0; any number still asks for the size. */
                n->tsize = file_size;
                return TFTP_OPT_TSIZE;
        }
        return 0;
}

void tftp_negotiate(const struct tftp_request *req, const struct tftp_limits *lim,
                    uint64_t file_size, struct tftp_negotiated *ret)
{
        struct tftp_negotiated n = {
            .blksize = TFTP_BLKSIZE_DEFAULT,
            .windowsize = 1,
        };

        for (size_t i = 0; i < req->n_options; i++)
                n.acked |= negotiate_one(&req->options[i], lim, file_size, &n);
        *ret = n;
}

/* Appends "name\0value\0" at *pos; -ENOBUFS when it does not fit. */
static int put_option(uint8_t *buf, size_t cap, size_t *pos, const char *name, uint64_t value)
{
        char num[24];
        size_t ln = strlen(name), lv;

        lv = (size_t)snprintf(num, sizeof num, "%" PRIu64, value);
        if (*pos + ln + 1 + lv + 1 > cap)
                return -ENOBUFS;
        memcpy(buf + *pos, name, ln + 1);
        *pos += ln + 1;
        memcpy(buf + *pos, num, lv + 1);
        *pos += lv + 1;
        return 0;
}

int tftp_build_oack(uint8_t *buf, size_t cap, const struct tftp_negotiated *n)
{
        size_t pos = 2;
        int r = 0;

        if (cap < 2)
                return -ENOBUFS;
        put_u16(buf, TFTP_OP_OACK);
        /* Fixed order; RFC 2347 does not require the request's. */
        if (r >= 0 && (n->acked & TFTP_OPT_BLKSIZE))
                r = put_option(buf, cap, &pos, "blksize", n->blksize);
        if (r >= 0 && (n->acked & TFTP_OPT_TSIZE))
                r = put_option(buf, cap, &pos, "tsize", n->tsize);
        if (r >= 0 && (n->acked & TFTP_OPT_TIMEOUT))
                r = put_option(buf, cap, &pos, "timeout", n->timeout_s);
        if (r >= 0 && (n->acked & TFTP_OPT_WINDOWSIZE))
                r = put_option(buf, cap, &pos, "windowsize", n->windowsize);
        return r < 0 ? r : (int)pos;
}

int tftp_build_error(uint8_t *buf, size_t cap, uint16_t code, const char *msg)
{
        size_t ln = strnlen(msg, TFTP_ERROR_MSG_MAX);

        if (cap < TFTP_HEADER_SIZE + ln + 1)
                return -ENOBUFS;
        put_u16(buf, TFTP_OP_ERROR);
        put_u16(buf + 2, code);
        memcpy(buf + TFTP_HEADER_SIZE, msg, ln);
        buf[TFTP_HEADER_SIZE + ln] = '\0';
        return (int)(TFTP_HEADER_SIZE + ln + 1);
}

int tftp_build_ack(uint8_t *buf, size_t cap, uint16_t block)
{
        if (cap < TFTP_HEADER_SIZE)
                return -ENOBUFS;
        put_u16(buf, TFTP_OP_ACK);
        put_u16(buf + 2, block);
        return TFTP_HEADER_SIZE;
}

void tftp_put_data_header(uint8_t *buf, uint16_t block)
{
        put_u16(buf, TFTP_OP_DATA);
        put_u16(buf + 2, block);
}

static bool is_dotdot(const char *component, size_t len)
{
        return len == 2 && component[0] == '.' && component[1] == '.';
}

int tftp_clean_filename(const char *in, char *out, size_t cap)
{
        size_t n = 0, start = 0;

        while (*in == '/' || *in == '\\')
                in++;
        for (;; in++) {
                char c = *in == '\\' ? '/' : *in;

                if (c == '/' || c == '\0') {
                        if (is_dotdot(out + start, n - start))
                                return -EACCES;
                        start = n + 1;
                }
                if (c == '\0')
                        break;
                if ((unsigned char)c < 0x20 || c == 0x7f)
                        return -EACCES;
                if (n + 1 >= cap)
                        return -ENAMETOOLONG;
                out[n++] = c;
        }
        if (n == 0)
                return -EACCES;
        out[n] = '\0';
        return 0;
}

const char *tftp_escape(const char *s, char out[static TFTP_ESCAPED_MAX])
{
        size_t n = 0, i;

        out[n++] = '\'';
        for (i = 0; s[i] && i < 64; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
                        out[n++] = (char)c;
                else
                        n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
        }
        out[n++] = '\'';
        if (s[i])
                n += (size_t)snprintf(out + n, 4, "...");
        out[n] = '\0';
        return out;
}

const char *tftp_mode_to_string(enum tftp_mode m)
{
        switch (m) {
        case TFTP_MODE_OCTET:
                return "octet";
        case TFTP_MODE_NETASCII:
                return "netascii";
        case TFTP_MODE_MAIL:
                return "mail";
        }
        return "?";
}
