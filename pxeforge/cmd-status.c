/* pxeforge status: what a running appliance has seen of each machine's boot, as a table
 * (or its JSON), asked of its HTTP server under HTTPD_API_PREFIX; and pxeforge machine
 * reset, which makes a boot-once machine boot from the network again. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "httpd/httpd.h"
#include "pxeforge/appliance.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

#define ANSWER_MAX     (16u << 20)
#define ANSWER_TIMEOUT 10 /* seconds to connect and for each read */

struct status_args {
        const char *address;
        uint16_t http_port;
        const char *config_path;
        bool json;
        bool reset_link;
};

#define ARG(m) offsetof(struct status_args, m)

static const struct cli_option options[] = {
    {"address", "ADDR", CLI_STRING, ARG(address), NULL, false,
     "the IPv4 address the appliance serves HTTP on (default 127.0.0.1)"},
    {"http-port", "N", CLI_CUSTOM, ARG(http_port), cli_parse_port, false,
     "its HTTP port (default: the config's server.httpPort, else 80)"},
    {"config-file", "FILE", CLI_STRING, ARG(config_path), NULL, false,
     "take the HTTP port from FILE's `server` section, as `serve` and `up` do"},
    {"json", NULL, CLI_FLAG, ARG(json), NULL, false,
     "print the JSON of " HTTPD_API_PREFIX "api/machines instead of the table"},
    {"reset-link", NULL, CLI_FLAG, ARG(reset_link), NULL, false,
     "print the status page's address with the appliance's reset token (as root; machine "
     "groups only): that page has a button that resets each boot-once machine that booted"},
};

static int connect_to(const char *address, uint16_t port, struct pxf_error *err)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        struct timeval tv = {.tv_sec = ANSWER_TIMEOUT};
        _cleanup_close_ int fd = -1;

        if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
                return pxf_error_set(err, -EINVAL, "--address '%s' is not an IPv4 address",
                                     address);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return pxf_error_set(err, -errno, "socket: %m");
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) < 0)
                return pxf_error_set(err, -errno,
                                     "no appliance answers on %s port %u: %m (is `pxeforge serve` "
                                     "or `up` running, and is that its HTTP port?)",
                                     address, port);
        return TAKE_FD(fd);
}

/* The whole answer to one request (a GET, or a POST of body), read until the server
 * closes (HTTP/1.0). */
static int fetch(int fd, const char *address, const char *path, const char *body, char **ret,
                 size_t *ret_len, struct pxf_error *err)
{
        _cleanup_free_ char *req =
            body ? pxf_asprintf("POST %s HTTP/1.0\r\nHost: %s\r\nContent-Length: %zu\r\n\r\n%s",
                                path, address, strlen(body), body)
                 : pxf_asprintf("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, address);
        _cleanup_free_ char *buf = pxf_calloc(1, ANSWER_MAX + 1);
        size_t len = 0;
        ssize_t n;

        if (pxf_write_all(fd, req, strlen(req)) < 0)
                return pxf_error_set(err, -errno, "sending the request: %m");
        while (len < ANSWER_MAX && (n = read(fd, buf + len, ANSWER_MAX - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxf_error_set(err, -errno, "reading the answer: %m");
                len += (size_t)n;
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* The body of a 200 answer; anything else is an error that says what came back (a 404:
 * that the appliance keeps no boot status, unless refused names what was asked). */
static int body_of(char *answer, const char *address, uint16_t port, const char *refused,
                   const char **ret, struct pxf_error *err)
{
        char *end = strstr(answer, "\r\n\r\n");
        int status = 0;

        if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1 || !end)
                return pxf_error_set(err, -EPROTO,
                                     "%s port %u does not answer as pxeforge's HTTP "
                                     "server does",
                                     address, port);
        if (status != 200 && status != 405 && refused)
                return pxf_error_set(err, -EPROTO, "%s: %.200s", refused, end + 4);
        if (status == 404 || status == 405)
                return pxf_error_set(err, -ENOENT,
                                     "%s port %u serves no boot status (an appliance with "
                                     "server.status: false or --no-status, a pxeforge older "
                                     "than this one, or another HTTP server)",
                                     address, port);
        if (status != 200)
                return pxf_error_set(err, -EPROTO, "%s port %u answered with status %d: %.200s",
                                     address, port, status, end + 4);
        *ret = end + 4;
        return 0;
}

/* The port asked for, else the config's server.httpPort, else 80. */
static int http_port_of(struct status_args *a)
{
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        int r = PXF_EXIT_OK;

        if (!a->http_port && a->config_path) {
                r = load_config(a->config_path, false, &cfg);
                if (r == PXF_EXIT_OK && cfg->server.http_port)
                        a->http_port = (uint16_t)cfg->server.http_port;
        }
        if (!a->http_port)
                a->http_port = APPLIANCE_HTTP_PORT;
        return r;
}

static int read_token(uint16_t port, char **ret, struct pxf_error *err);

/* The page's address with the token in its fragment, which the browser keeps to itself. */
static int print_reset_link(const char *address, uint16_t port)
{
        _cleanup_free_ char *token = NULL;
        struct pxf_error err = {0};
        int r = read_token(port, &token, &err);

        if (r >= 0)
                printf("http://%s:%u%s#token=%s\n", address, port, HTTPD_API_PREFIX, token);
        return exit_status(r, &err);
}

static int run(void *args)
{
        struct status_args *a = args;
        const char *address = a->address ? a->address : "127.0.0.1", *body = NULL;
        _cleanup_free_ char *path = NULL, *answer = NULL;
        _cleanup_close_ int fd = -1;
        struct pxf_error err = {0};
        size_t len = 0;
        int r = http_port_of(a);

        if (r != PXF_EXIT_OK)
                return r;
        if (a->reset_link)
                return print_reset_link(address, a->http_port);
        path = pxf_asprintf("%sapi/machines%s", HTTPD_API_PREFIX, a->json ? "" : ".txt");
        fd = r = connect_to(address, a->http_port, &err);
        if (r >= 0)
                r = fetch(fd, address, path, NULL, &answer, &len, &err);
        if (r >= 0)
                r = body_of(answer, address, a->http_port, NULL, &body, &err);
        if (r >= 0 && fputs(body, stdout) == EOF)
                r = pxf_error_set(&err, -EIO, "writing to standard output: %m");
        return exit_status(r, &err);
}

const struct cli_command cli_cmd_status = {
    .name = "status",
    .synopsis = "[--address ADDR] [--http-port N | --config-file FILE] [--json | --reset-link]",
    .summary = "show what a running appliance has seen of each machine's boot",
    .description =
        "Asks a running appliance (`pxeforge serve` or `up`) over its HTTP port what it has\n"
        "seen of each machine's network boot, and prints one line a machine, the most\n"
        "recently seen first: its MAC address (once a DHCP answer named it), address, host\n"
        "name, stage (dhcp, loader, kernel, initramfs, image, booted), state (booting,\n"
        "stalled: silent for 120 s before booting, failed: its last transfer failed,\n"
        "booted, local: its machine group sent it to its disk), when it was last seen, and\n"
        "its transfer in flight. With --json, the same as JSON (" HTTPD_API_PREFIX "api/machines,\n"
        "which scripts may also fetch, with what each machine boots).\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 success, 1 no appliance answered, 2 bad command line, 3 invalid config.",
    .args_size = sizeof(struct status_args),
    .run = run,
};

/* ---- pxeforge machine reset MAC ------------------------------------------------------- */

struct machine_args {
        struct status_args where; /* --address, --http-port, --config-file */
        const char *operands[2];  /* "reset", MAC */
};

#define MARG(m) offsetof(struct machine_args, m)

static const struct cli_option machine_options[] = {
    {"address", "ADDR", CLI_STRING, MARG(where.address), NULL, false,
     "the IPv4 address the appliance serves HTTP on (default 127.0.0.1)"},
    {"http-port", "N", CLI_CUSTOM, MARG(where.http_port), cli_parse_port, false,
     "its HTTP port (default: the config's server.httpPort, else 80)"},
    {"config-file", "FILE", CLI_STRING, MARG(where.config_path), NULL, false,
     "take the HTTP port from FILE's `server` section, as `serve` and `up` do"},
};

/* The token the appliance on port left for root (APPLIANCE_TOKEN_FORMAT). */
static int read_token(uint16_t port, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *path = pxf_asprintf(APPLIANCE_TOKEN_FORMAT, port);
        size_t len = 0;
        int r = pxf_read_file(path, 4096, ret, &len);

        if (r == -ENOENT)
                return pxf_error_set(err, r,
                                     "no appliance with machine groups serves HTTP on port %u "
                                     "here (%s is missing)",
                                     port, path);
        if (r < 0)
                return pxf_error_set(err, r, "cannot read '%s': %s (run as root)", path,
                                     strerror(-r));
        return 0;
}

static int run_machine(void *args)
{
        struct machine_args *m = args;
        struct status_args *a = &m->where;
        const char *address = a->address ? a->address : "127.0.0.1", *said = NULL;
        _cleanup_free_ char *token = NULL, *body = NULL, *answer = NULL;
        _cleanup_close_ int fd = -1;
        struct pxf_error err = {0};
        size_t len = 0;
        int r;

        if (strcmp(m->operands[0], "reset") != 0) {
                log_error("unknown machine action '%s' (expected reset)", m->operands[0]);
                return PXF_EXIT_USAGE;
        }
        r = http_port_of(a);
        if (r != PXF_EXIT_OK)
                return r;
        r = read_token(a->http_port, &token, &err);
        body = pxf_asprintf("mac=%s\ntoken=%s\n", m->operands[1], token ? token : "");
        if (r >= 0)
                fd = r = connect_to(address, a->http_port, &err);
        if (r >= 0)
                r = fetch(fd, address, PXF_API_PREFIX PXF_API_RESET, body, &answer, &len, &err);
        if (r >= 0)
                r = body_of(answer, address, a->http_port, "the appliance refused the reset", &said,
                            &err);
        if (r >= 0)
                fputs(said, stdout);
        return exit_status(r, &err);
}

const struct cli_command cli_cmd_machine = {
    .name = "machine",
    .synopsis = "reset MAC [--address ADDR] [--http-port N | --config-file FILE]",
    .summary = "make a boot-once machine boot from the network again",
    .description =
        "reset MAC: the running appliance (`pxeforge serve` or `up` with server.machines)\n"
        "forgets that the machine MAC reported booted, so a machine of a bootOnce group\n"
        "boots its build from the network once more instead of its disk. Run it as root on\n"
        "the appliance's host: the request carries the token the appliance left "
        "in\n" APPLIANCE_RUNTIME_DIR "/http-PORT.token for root alone.\n",
    .options = machine_options,
    .n_options = PXF_ELEMENTSOF(machine_options),
    .n_operands = 2,
    .operands_offset = MARG(operands),
    .exit_status = "0 reset, 1 no appliance answered or it refused (no such machine, not "
                   "its token), 2 bad command line, 3 invalid config.",
    .args_size = sizeof(struct machine_args),
    .run = run_machine,
};
