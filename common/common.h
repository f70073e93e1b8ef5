/* common: the one module every other pxeforge module may use.
 *
 * It owns nothing long-lived except the process-wide log settings, which only main()
 * changes. It provides:
 *   - cleanup helpers (_cleanup_free_, TAKE_PTR, ...), systemd style;
 *   - struct pxf_error, the user-facing context that goes with a negative errno;
 *   - the logging API (pxf_log*), one place for levels and formatting;
 *   - pxf_spawn_run() and pxf_spawn_start() (waiting and non-waiting), the only ways
 *     pxeforge starts an external program: explicit argv, explicit environment, never a
 *     shell;
 *   - pxf_child_*: a supervised child on a libevent loop (exit through a pidfd, stderr
 *     relayed with escaping and a rate limit, restart with backoff, SIGTERM then SIGKILL);
 *   - small file-system helpers (bounded file reads, mkdir -p, rm -rf, atomic rename,
 *     pxf_open_beneath for files a server opens for a peer), a log rate limiter.
 *
 * Functions return 0 (or a positive count) on success and a negative errno on failure.
 */
#pragma once

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- cleanup ---------------------------------------------------------------------- */

#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p)                                                        \
        {                                                                                          \
                if (*p)                                                                            \
                        (void)func(*p);                                                            \
        }

static inline void freep(void *p)
{
        free(*(void **)p);
}
static inline void closep(int *fd)
{
        if (*fd >= 0)
                (void)close(*fd);
}
void pxf_strv_free(char **v);
static inline void pxf_strv_freep(char ***v)
{
        pxf_strv_free(*v);
}
#define _cleanup_free_      _cleanup_(freep)
#define _cleanup_close_     _cleanup_(closep)
#define _cleanup_strv_free_ _cleanup_(pxf_strv_freep)

#define PXF_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
/* A macro's value as a string literal: PXF_STRINGIFY(TFTPD_PORT) is "69". */
#define PXF_STRINGIFY(x)  PXF_STRINGIFY_(x)
#define PXF_STRINGIFY_(x) #x

/* ---- errors ----------------------------------------------------------------------- */

#define PXF_ERROR_MSG_MAX 4096

/* User-facing text that goes with a negative errno. Filled only on failure. */
struct pxf_error {
        int code; /* negative errno */
        char msg[PXF_ERROR_MSG_MAX];
};

/* Sets err (if not NULL) and returns code, so callers write `return pxf_error_set(...)`. */
int pxf_error_set(struct pxf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends to the message already in err (what fits). */
int pxf_error_append(struct pxf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefixes the message already in err with more context ("step: <old message>"). */
int pxf_error_prefix(struct pxf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- logging ---------------------------------------------------------------------- */

enum pxf_log_level {
        PXF_LOG_ERROR,
        PXF_LOG_WARNING,
        PXF_LOG_INFO,
        PXF_LOG_DEBUG,
};

/* Process-wide settings: main() calls these once, before anything else runs. */
void pxf_log_set_level(enum pxf_log_level level);
enum pxf_log_level pxf_log_get_level(void);
/* Also writes every message, at every level, to a new file at path (replacing one already
 * open), until pxf_log_close_file(); for the log of one build, opened by the process that
 * does it. pxf_log_file(): its path, or NULL. */
int pxf_log_open_file(const char *path);
const char *pxf_log_file(void);
void pxf_log_close_file(void);
/* The user's own log file (--log-file): every message at every level is appended to it,
 * whatever the console's level, for the whole run. */
int pxf_log_open_user_file(const char *path);
/* Console lines as JSON objects (--log-format json) instead of text. */
void pxf_log_set_json(bool json);
/* Parses "error", "warning", "info", "debug", and the reference tool's "panic", "fatal",
 * "warn" and "trace"; returns -EINVAL for anything else. */
int pxf_log_level_from_string(const char *s, enum pxf_log_level *ret);

void pxf_log(enum pxf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pxf_logv(enum pxf_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Logs with ": <strerror(-r)>" appended and returns r. */
int pxf_log_errno(enum pxf_log_level level, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...)   pxf_log(PXF_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) pxf_log(PXF_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    pxf_log(PXF_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   pxf_log(PXF_LOG_DEBUG, __VA_ARGS__)

/* Monotonic clock in microseconds, for step durations. */
uint64_t pxf_now_usec(void);
/* Wall clock in microseconds since the Unix epoch, for times that are shown or kept. */
uint64_t pxf_wall_usec(void);

/* A cap on log lines per second, for lines a peer or a child can cause at any rate: at
 * most per_second pass in each one-second window; the others are counted. Zero-initialize
 * with per_second set. */
struct pxf_rate_limit {
        unsigned per_second;
        uint64_t window_usec;
        unsigned used;
        uint64_t held_back;
};
/* Whether one more line may be logged at now. When a new window starts, *ret_held_back
 * receives how many lines the last one held back (else 0), for one line that says so. */
bool pxf_rate_limit_take(struct pxf_rate_limit *rl, uint64_t now, uint64_t *ret_held_back);
/* The count held back in the current window, which starts again empty (at exit). */
uint64_t pxf_rate_limit_flush(struct pxf_rate_limit *rl);

/* How many threads a tool should use: requested when above 0, else one per online CPU;
 * at least 1 and at most max. */
int pxf_thread_count(int requested, int max);

/* Milliseconds as a struct timeval, for libevent's timers. */
struct timeval pxf_timeval_from_ms(uint64_t ms);

/* ---- spawning --------------------------------------------------------------------- */

/* What a failed program's error shows of its output: its last lines, at most this many
 * (and bytes); the whole output is in the debug log. */
#define PXF_SPAWN_OUTPUT_TAIL  2048
#define PXF_SPAWN_OUTPUT_LINES 25

struct pxf_spawn_opts {
        const char *const *envp; /* NULL: a minimal default environment */
        const char *cwd;         /* NULL: inherit */
        int stdin_fd;            /* 0: /dev/null; else read from this descriptor */
        /* -1: with stderr, into the output that is logged and shown on failure;
         * PXF_SPAWN_INHERIT: our stderr; else this descriptor (the caller's to read). */
        int stdout_fd;
        int *exit_status; /* if set: receives the exit status when it exited */
        /* If set: run argv in a container whose root is this directory (an exported guest
         * tree): its own mount, pid, ipc and uts namespaces, a private /proc, a minimal
         * /dev, a read-only /sys, an empty /run, device nodes of the tree unusable, and
         * only the capabilities a package manager needs (common/container.c). Everything
         * vanishes with the program. pass_fds is not supported there. */
        const char *container_root;
        /* With container_root: share the host's network (and its name servers, laid over
         * the tree's /etc/resolv.conf); otherwise the container has no network. */
        bool container_network;
        /* Without container_root: run argv in its own pid namespace under a keeper that
         * dies with the caller (even by SIGKILL), taking every process of the namespace
         * along; for a daemon that changes its user, which clears a parent-death signal
         * of its own. SIGTERM, SIGINT and SIGHUP sent to the returned pid reach the
         * program. pass_fds is not supported with it. */
        bool die_with_parent;
        /* Descriptors the child inherits, as fds 3, 4, ... in this order (all others above
         * 2 are closed). Each must be numbered above 2 + n_pass_fds, so no dup2 clobbers
         * another: -EINVAL otherwise. */
        const int *pass_fds;
        size_t n_pass_fds;
};
#define PXF_SPAWN_INHERIT (-2)

/* Runs argv[0] (looked up in PATH when it has no '/') with the given argv and waits for
 * it; each line of its output goes to the debug log as "PROGRAM: line". Returns 0 when it
 * exits 0; otherwise -ECHILD with err holding the program name, its exit status, the
 * command line and the last lines of its output. opts may be NULL. */
int pxf_spawn_run(const char *const *argv, const struct pxf_spawn_opts *opts,
                  struct pxf_error *err);
/* pxf_spawn_run for a host tool: one that is not installed gives -ENOENT with a message
 * naming its Debian package. */
int pxf_spawn_tool(const char *const *argv, const char *package, const struct pxf_spawn_opts *opts,
                   struct pxf_error *err);

/* The error of a program that failed (-ECHILD): "PROGRAM WHAT" (e.g. "exited with status
 * 1"), its command line and the last lines of out (len bytes; cut: out starts mid-line).
 * For programs run elsewhere (the appliance) to fail like pxf_spawn_run()'s. */
int pxf_spawn_failure(const char *const *argv, const char *what, const char *out, size_t len,
                      bool cut, struct pxf_error *err);

/* Starts argv like pxf_spawn_run() (stdin /dev/null, stdout per opts, clean signal state,
 * no fds above 2, explicit environment) but does not wait: returns the child's pid and the
 * read end of a pipe carrying its stderr (close-on-exec, nonblocking; EOF once the child and
 * its descendants closed it). The caller owns both: it must reap the pid (waitid, or a
 * pidfd) and close the fd. opts->exit_status is ignored. */
int pxf_spawn_start(const char *const *argv, const struct pxf_spawn_opts *opts, pid_t *ret_pid,
                    int *ret_stderr_fd, struct pxf_error *err);

/* ---- signals ----------------------------------------------------------------------- */

/* Blocks SIGPIPE in the calling thread while it writes into a pipe to a child (a
 * compressor): a child that dies would otherwise kill the whole build without a word;
 * blocked, the write fails with EPIPE and is reported. Returns whether it blocked it, to
 * pass to pxf_sigpipe_unblock(), which drops a pending SIGPIPE first. */
bool pxf_sigpipe_block(void);
void pxf_sigpipe_unblock(bool blocked_here);

/* ---- strings and files ------------------------------------------------------------ */

char *pxf_strdup(const char *s);                                                /* aborts on OOM */
char *pxf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* aborts */
void *pxf_calloc(size_t n, size_t size);                                        /* aborts on OOM */
void *pxf_reallocarray(void *p, size_t n, size_t size);                         /* aborts on OOM */
size_t pxf_strv_length(char *const *v);
/* Appends a copy of s to the NULL-terminated vector *v. */
void pxf_strv_push(char ***v, const char *s);
/* The strings of v with sep between them ("" for none); a new string. */
char *pxf_strv_join(char *const *v, const char *sep);
/* strcmp for qsort and bsearch over arrays of strings (char * elements). */
int pxf_compare_strings(const void *a, const void *b);
/* Sorts the NULL-terminated vector v (NULL: nothing) byte-wise, not by locale. */
void pxf_strv_sort(char **v);
/* Whether v (NULL: empty) holds s. */
bool pxf_strv_contains(char *const *v, const char *s);
/* Whether text has line as one of its lines (exactly, without the newline). */
bool pxf_text_has_line(const char *text, const char *line);
/* Whether s ends with suffix (and is longer than it). */
bool pxf_has_suffix(const char *s, const char *suffix);
/* A relative path inside a tree as callers may write it ("/etc/fstab", "./boot",
 * "boot/"): the start of its normalized form in path, its length in *ret_len (0: the
 * tree itself). */
const char *pxf_path_trim(const char *path, size_t *ret_len);
/* Writes s as troff text (manual pages): backslashes and hyphens escaped, backquotes as
 * quotes, and no line starting with a control character. */
void pxf_troff_text(FILE *f, const char *s);
/* Writes s as a JSON string, quotes included: '"' and '\' escaped, control characters as
 * \u00XX. Bytes of 0x80 and above pass as they are (UTF-8 stays UTF-8). */
void pxf_json_string(FILE *f, const char *s);
/* The value of a hexadecimal digit (either case), or -1. */
int pxf_hex_digit(char c);
/* A MAC address or its first octets ("52:54:00", any case, ':' or '-' between two-digit
 * octets) into mac: the number of octets (1..6), or -EINVAL. */
int pxf_mac_parse(const char *s, uint8_t mac[6]);

/* The client architectures of DHCP option 93 the appliance tells apart, as bits, named as
 * the config and dnsmasq's tags name them (bios, efi-x64, efi-x64-http, efi-arm64,
 * efi-arm64-http). */
#define PXF_ARCH_BIOS           (1u << 0)
#define PXF_ARCH_EFI_X64        (1u << 1)
#define PXF_ARCH_EFI_X64_HTTP   (1u << 2)
#define PXF_ARCH_EFI_ARM64      (1u << 3)
#define PXF_ARCH_EFI_ARM64_HTTP (1u << 4)
#define PXF_ARCH_COUNT          5
/* The bit of a name, or 0; the name of a bit, or NULL. */
unsigned pxf_arch_from_name(const char *name);
const char *pxf_arch_name(unsigned bit);

/* Reads a whole regular file of at most max bytes into a NUL-terminated buffer. */
int pxf_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same from an open file (which stays open), e.g. one of pxf_open_beneath's. */
int pxf_read_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* Creates path and its parents with mode (like mkdir -p). */
int pxf_mkdir_p(const char *path, mode_t mode);
/* Removes path recursively, not following symlinks and not crossing mount points.
 * A missing path is success. */
int pxf_rm_rf(const char *path);
/* Joins a directory and a relative path unless path is already absolute. */
char *pxf_path_resolve(const char *base_dir, const char *path);
/* Directory part of path ("." if none); a new string. */
char *pxf_dirname(const char *path);
/* fsyncs the file, renames it over dst, fsyncs the directory of dst. */
int pxf_publish_file(const char *tmp, const char *dst);
/* Starts writing dst through dst.partial: creates or truncates it (never through a
 * symlink), with exactly mode whatever the umask. Returns the fd (close-on-exec) and the
 * partial path in *ret_partial (the caller frees it); pxf_finish_partial ends the write. */
int pxf_open_partial(const char *dst, mode_t mode, char **ret_partial, struct pxf_error *err);
/* Writes len bytes as dst through dst.partial and a rename: readers see the old file or
 * the whole new one, never a part. */
int pxf_write_file_atomic(const char *dst, const void *data, size_t len, mode_t mode,
                          struct pxf_error *err);
/* Ends writing a file through a temporary name: closes fd (always), and when r >= 0
 * publishes tmp as dst; on any failure removes tmp, so no half-written file stays. Returns
 * r, or the error of closing or publishing (with err filled). */
int pxf_finish_partial(int fd, const char *tmp, const char *dst, int r, struct pxf_error *err);
struct sockaddr;
/* Whether two socket addresses (IPv4 or IPv6) name the same host, whatever the ports: what
 * the servers' per-source limits count by. */
bool pxf_same_host(const struct sockaddr *a, const struct sockaddr *b);
/* The host part of an IPv4 or IPv6 socket address as text, IPv4-mapped IPv6 addresses
 * (a dual-stack socket's IPv4 clients) as plain IPv4; "?" for anything else. Returns the
 * port (0 for "?"). size: PXF_ADDR_TEXT_MAX is enough. */
#define PXF_ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* The appliance's own pages and API on its HTTP port, below a path no artifact can have
 * (httpd serves no name that starts with '.'). A booted system reports to
 * PXF_API_PREFIX PXF_API_REPORT (status/report.h), as its kernel command line says. */
#define PXF_API_PREFIX "/.pxeforge/"
#define PXF_API_REPORT "api/report"
/* Where `pxeforge machine reset` sends a reset (pxeforge/routing.h). */
#define PXF_API_RESET "api/reset"
unsigned pxf_addr_text(const struct sockaddr *sa, size_t salen, char *out, size_t size);

/* Writes all n bytes of buf to fd, retrying short writes and EINTR. 0 or -errno. */
int pxf_write_all(int fd, const void *buf, size_t n);

/* ---- serving files beneath a root ------------------------------------------------- */

/* Opens path, relative to root, for reading as a server does for a peer: the root is
 * opened afresh on every call (a root that is a symlink swapped by a rebuild takes effect
 * for the next request, while open files stay what they were), and the path is resolved
 * by the kernel beneath it (openat2 RESOLVE_BENEATH, no magic links): "..", absolute
 * symlinks and symlinks that lead out of the root fail with -EXDEV. Opening never blocks
 * (a FIFO). Returns the fd (close-on-exec) and fills *ret_st, or a negative errno;
 * anything but a regular file (a folder, a FIFO, a device, a socket) is -EISDIR. Hidden
 * names (a component starting with '.') and NAME.partial are -ENOENT: the one policy of
 * both servers. */
int pxf_open_beneath(const char *root, const char *path, struct stat *ret_st);
/* Who opens what a client asks for in place of pxf_open_beneath(root, path) (struct
 * tftpd_config, struct httpd_config): the appliance's per-machine views of several builds
 * (pxeforge/routing.h). path is relative and clean, as pxf_open_beneath takes it; one
 * below PXF_BOOT_PREFIX (without its leading '/') reaches it too, though hidden. Returns
 * what pxf_open_beneath would: an fd and *ret_st, or a negative errno. */
struct pxf_opener {
        int (*open)(void *ctx, const struct sockaddr *peer, size_t peer_len, const char *path,
                    struct stat *ret_st);
        void *ctx;
};
/* Where a boot loader asks for its menu by its MAC, so the menu can be that machine's:
 * PXF_BOOT_PREFIX "52:54:00:12:34:56/grub/grub.cfg" (pxeforge/routing.h). */
#define PXF_BOOT_PREFIX "/.pxeforge/boot/"
/* Whether root can be served by pxf_open_beneath: it is a folder, and the kernel has
 * openat2 (Linux 5.6). 0 or a negative errno. */
int pxf_check_beneath(const char *root);

/* ---- supervised children (on a libevent loop) --------------------------------------- */

struct event_base;
struct pxf_child;

#define PXF_CHILD_LINE_MAX               4096 /* a longer line is cut */
#define PXF_CHILD_FOREIGN_LINE_MAX       512  /* a longer line of a foreign child is cut */
#define PXF_CHILD_LINES_PER_SECOND       50   /* of a foreign child at info; the rest debug */
#define PXF_CHILD_BACKOFF_MS_DEFAULT     1000 /* first restart delay, doubled each time */
#define PXF_CHILD_BACKOFF_MAX_MS_DEFAULT 30000
#define PXF_CHILD_STABLE_MS              60000 /* a run at least this long resets the backoff */
#define PXF_CHILD_GRACE_MS_DEFAULT       10000 /* SIGTERM to SIGKILL when stopping */

/* How a child's stderr reaches our log, line by line. */
enum pxf_child_output {
        /* One of pxeforge's own programs, as privileged as we are: its lines already say
         * "pxeforge: ..." and pass through as they are. */
        PXF_CHILD_OUTPUT_OURS,
        /* One of pxeforge's own programs that runs with less privilege (pxeforge-server):
         * each line logged again at the level it was logged at there, as "NAME: line" (its
         * "pxeforge: LEVEL: " or "<N>" dropped), escaped like a foreign one, so that it
         * cannot pass for one of ours; not rate-limited. */
        PXF_CHILD_OUTPUT_CONFINED,
        /* Another program (dnsmasq): each line escaped (control bytes, non-ASCII and '\\' as
         * \\xNN), cut at PXF_CHILD_FOREIGN_LINE_MAX ("..."), logged as "NAME: line" at info, at
         * most PXF_CHILD_LINES_PER_SECOND a second; the rest at debug, with a count at info. */
        PXF_CHILD_OUTPUT_FOREIGN,
};

struct pxf_child_opts {
        const char *name;                   /* in log lines: "dnsmasq", "pxeforge-server" */
        const char *const *argv;            /* copied */
        const struct pxf_spawn_opts *spawn; /* NULL: defaults; pass_fds copied */
        enum pxf_child_output output;
        /* Restart it whenever it exits, after a delay that starts at backoff_ms and doubles
         * up to backoff_max_ms (0: the defaults); a run of PXF_CHILD_STABLE_MS resets it. */
        bool restart;
        unsigned backoff_ms, backoff_max_ms;
        unsigned grace_ms; /* 0: PXF_CHILD_GRACE_MS_DEFAULT */
        /* Each line of a foreign child's output, escaped, before it is logged (or NULL). */
        void (*on_line)(const char *line, void *userdata);
        /* Whether a foreign child's line is detail (logged at debug, outside the rate
         * limit) rather than news (at info, rate-limited); NULL: every line is news. */
        bool (*is_detail)(const char *line);
        /* After it exited and was reaped (and, with restart, the restart is scheduled). The
         * callback may free the child. NULL: only the log line. */
        void (*on_exit)(struct pxf_child *c, const siginfo_t *si, void *userdata);
        void *userdata;
};

struct pxf_child_stats {
        pid_t pid;         /* the running process; 0 while it waits to restart */
        unsigned restarts; /* processes started after the first */
        unsigned log_lines;
};

/* Starts the child and watches it on base: its exit through a pidfd (no SIGCHLD), its
 * stderr through a pipe. Returns 0 with *ret running, or a negative errno with err filled;
 * a child that cannot be watched is killed, never left behind. */
int pxf_child_start(struct event_base *base, const struct pxf_child_opts *o, struct pxf_child **ret,
                    struct pxf_error *err);
/* Before the loop runs: waits up to timeout_ms for a line of the child that contains
 * ready, or for its exit, handling only this child's output. 0 when the line came (or
 * the time ran out with the child running); -ECHILD when it exited, with err saying how
 * and its last line. */
int pxf_child_wait_ready(struct pxf_child *c, const char *ready, unsigned timeout_ms,
                         struct pxf_error *err);
/* The last line of its output as logged (escaped), "" if none. */
const char *pxf_child_last_line(const struct pxf_child *c);
void pxf_child_get_stats(const struct pxf_child *c, struct pxf_child_stats *ret);
/* Stops it (SIGTERM, SIGKILL after grace_ms; waits on its pidfd, never longer), reaps it
 * after reading its last words, frees it. on_exit is not called. Accepts NULL; returns
 * NULL. */
struct pxf_child *pxf_child_free(struct pxf_child *c);
