/* Logging: one line per message on stderr, "pxeforge: text" at info and
 * "pxeforge: LEVEL: text" at the other levels. Under systemd (JOURNAL_STREAM set) the line
 * is "<N>text" instead, the syslog priority N telling journald the level. A log file, when
 * one is open, gets every message at every level, with the seconds since it was opened. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"

/* The only process-wide mutable state: the console's level and format and the user's log
 * file, set by main() before any work, and the log file opened by a process for the work
 * it does (a build). */
static enum pxf_log_level log_max_level = PXF_LOG_INFO;
static bool log_json;
struct log_sink {
        int fd;
        uint64_t opened_usec;
        char path[PATH_MAX];
};
static struct log_sink log_file = {.fd = -1}, user_log = {.fd = -1};

void pxf_log_set_level(enum pxf_log_level level)
{
        log_max_level = level;
}

enum pxf_log_level pxf_log_get_level(void)
{
        return log_max_level;
}

static const char *const level_names[] = {
    [PXF_LOG_ERROR] = "error",
    [PXF_LOG_WARNING] = "warning",
    [PXF_LOG_INFO] = "info",
    [PXF_LOG_DEBUG] = "debug",
};

void pxf_log_set_json(bool json)
{
        log_json = json;
}

static int sink_open(struct log_sink *sink, const char *path, int flags)
{
        int fd;

        if (strlen(path) >= sizeof sink->path)
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
        if (fd < 0)
                return -errno;
        if (sink->fd >= 0)
                (void)close(sink->fd);
        sink->fd = fd;
        sink->opened_usec = pxf_now_usec();
        (void)snprintf(sink->path, sizeof sink->path, "%s", path);
        return 0;
}

int pxf_log_open_file(const char *path)
{
        return sink_open(&log_file, path, O_TRUNC);
}

int pxf_log_open_user_file(const char *path)
{
        return sink_open(&user_log, path, 0);
}

const char *pxf_log_file(void)
{
        return log_file.fd >= 0 ? log_file.path : NULL;
}

void pxf_log_close_file(void)
{
        if (log_file.fd >= 0)
                (void)close(log_file.fd);
        log_file.fd = -1;
        log_file.path[0] = '\0';
}

static void log_to_file(const struct log_sink *sink, enum pxf_log_level level, const char *line)
{
        uint64_t t = pxf_now_usec() - sink->opened_usec;

        (void)dprintf(sink->fd, "[%5u.%03u] %s: %s\n", (unsigned)(t / 1000000u),
                      (unsigned)(t / 1000u % 1000u), level_names[level], line);
}

/* One JSON object a line: {"level":"info","msg":"...","time":"..."}, the fields of the
 * reference tool's JSON log. */
static void log_json_line(enum pxf_log_level level, const char *line)
{
        char stamp[32];
        struct tm tm;
        time_t now = time(NULL);

        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        fprintf(stderr, "{\"level\":\"%s\",\"msg\":", level_names[level]);
        pxf_json_string(stderr, line);
        fprintf(stderr, ",\"time\":\"%s\"}\n", stamp);
}

int pxf_log_level_from_string(const char *s, enum pxf_log_level *ret)
{
        /* the reference tool's names too (logrus) */
        static const struct {
                const char *name;
                enum pxf_log_level level;
        } aliases[] = {
            {"panic", PXF_LOG_ERROR},
            {"fatal", PXF_LOG_ERROR},
            {"warn", PXF_LOG_WARNING},
            {"trace", PXF_LOG_DEBUG},
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(level_names); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (enum pxf_log_level)i;
                        return 0;
                }
        for (size_t i = 0; i < PXF_ELEMENTSOF(aliases); i++)
                if (strcmp(s, aliases[i].name) == 0) {
                        *ret = aliases[i].level;
                        return 0;
                }
        return -EINVAL;
}

void pxf_logv(enum pxf_log_level level, const char *fmt, va_list ap)
{
        static const int syslog_prio[] = {3, 4, 6, 7};
        char line[8192];

        if (level > log_max_level && log_file.fd < 0 && user_log.fd < 0)
                return;
        (void)vsnprintf(line, sizeof line, fmt, ap);
        if (log_file.fd >= 0)
                log_to_file(&log_file, level, line);
        if (user_log.fd >= 0)
                log_to_file(&user_log, level, line);
        if (level > log_max_level)
                return;
        if (log_json)
                log_json_line(level, line);
        else if (getenv("JOURNAL_STREAM"))
                fprintf(stderr, "<%d>%s\n", syslog_prio[level], line);
        else if (level == PXF_LOG_INFO)
                fprintf(stderr, "pxeforge: %s\n", line);
        else
                fprintf(stderr, "pxeforge: %s: %s\n", level_names[level], line);
}

void pxf_log(enum pxf_log_level level, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        pxf_logv(level, fmt, ap);
        va_end(ap);
}

int pxf_log_errno(enum pxf_log_level level, int r, const char *fmt, ...)
{
        char msg[4096];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        pxf_log(level, "%s: %s", msg, strerror(r < 0 ? -r : r));
        return r;
}

uint64_t pxf_now_usec(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t pxf_wall_usec(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool pxf_rate_limit_take(struct pxf_rate_limit *rl, uint64_t now, uint64_t *ret_held_back)
{
        *ret_held_back = 0;
        if (now - rl->window_usec >= 1000000) {
                *ret_held_back = pxf_rate_limit_flush(rl);
                rl->window_usec = now;
        }
        if (rl->used < rl->per_second) {
                rl->used++;
                return true;
        }
        rl->held_back++;
        return false;
}

uint64_t pxf_rate_limit_flush(struct pxf_rate_limit *rl)
{
        uint64_t held_back = rl->held_back;

        rl->used = 0;
        rl->held_back = 0;
        return held_back;
}
