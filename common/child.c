/* Supervised children on a libevent loop (see common.h): the one place that starts a
 * long-running program, relays its stderr, restarts it with backoff and stops it. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "common/common.h"

#define ESCAPED_LINE_MAX (PXF_CHILD_FOREIGN_LINE_MAX * 4 + 4)
#define READ_CHUNK       4096

struct pxf_child {
        struct event_base *base;
        char *name;
        char **argv;
        struct pxf_spawn_opts spawn;
        int *pass_fds;
        enum pxf_child_output output;
        bool restart;
        unsigned backoff_ms, backoff_max_ms, next_backoff_ms, grace_ms;
        void (*on_line)(const char *line, void *userdata);
        bool (*is_detail)(const char *line);
        void (*on_exit)(struct pxf_child *c, const siginfo_t *si, void *userdata);
        void *userdata;

        pid_t pid;
        int pidfd, errfd;
        struct event *exit_ev, *err_ev, *restart_ev;
        uint64_t started_usec;
        unsigned restarts, log_lines;

        char line[PXF_CHILD_LINE_MAX];
        size_t line_len;
        bool line_cut;
        char last_line[ESCAPED_LINE_MAX];
        struct pxf_rate_limit rate;
        const char *ready; /* while pxf_child_wait_ready runs: the line it waits for */
        bool ready_seen;
};

/* ---- output ------------------------------------------------------------------------- */

static void escape_line(const char *in, size_t n, char *out, size_t size)
{
        size_t o = 0;

        for (size_t i = 0; i < n && o + 5 < size; i++) {
                unsigned char ch = (unsigned char)in[i];
                if (ch < 0x20 || ch >= 0x7f || ch == '\\')
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
                else
                        out[o++] = (char)ch;
        }
        out[o] = '\0';
}

static void report_held_back(struct pxf_child *c, uint64_t held_back)
{
        if (held_back)
                log_info("%s: %" PRIu64 " more lines went to the debug log", c->name, held_back);
}

static void emit_foreign(struct pxf_child *c)
{
        uint64_t held_back;
        bool ok;

        escape_line(c->line, c->line_len, c->last_line, sizeof c->last_line);
        if (c->line_cut) {
                size_t len = strlen(c->last_line);
                (void)snprintf(c->last_line + len, sizeof c->last_line - len, "...");
        }
        if (c->on_line)
                c->on_line(c->last_line, c->userdata);
        if (c->is_detail && c->is_detail(c->last_line)) {
                pxf_log(PXF_LOG_DEBUG, "%s: %s", c->name, c->last_line);
                return;
        }
        ok = pxf_rate_limit_take(&c->rate, pxf_now_usec(), &held_back);
        report_held_back(c, held_back);
        pxf_log(ok ? PXF_LOG_INFO : PXF_LOG_DEBUG, "%s: %s", c->name, c->last_line);
}

/* The level a line of one of our programs was logged at, from the decoration our log
 * gives it ("pxeforge: warning: ", or "<4>" for the journal), which is skipped. */
static enum pxf_log_level our_level(const char **line, size_t *len)
{
        static const struct {
                const char *prefix;
                enum pxf_log_level level;
        } forms[] = {
            {"pxeforge: error: ", PXF_LOG_ERROR},
            {"pxeforge: warning: ", PXF_LOG_WARNING},
            {"pxeforge: debug: ", PXF_LOG_DEBUG},
            {"pxeforge: ", PXF_LOG_INFO},
            {"<3>", PXF_LOG_ERROR},
            {"<4>", PXF_LOG_WARNING},
            {"<6>", PXF_LOG_INFO},
            {"<7>", PXF_LOG_DEBUG},
        };

        for (size_t i = 0; i < PXF_ELEMENTSOF(forms); i++) {
                size_t n = strlen(forms[i].prefix);
                if (*len >= n && memcmp(*line, forms[i].prefix, n) == 0) {
                        *line += n;
                        *len -= n;
                        return forms[i].level;
                }
        }
        return PXF_LOG_INFO;
}

/* One of ours with less privilege: logged again here under its name, at its level,
 * escaped like a foreign line and never as it came, so that a compromised child cannot
 * write lines that pass for ours. */
static void emit_confined(struct pxf_child *c)
{
        const char *line = c->line;
        size_t len = c->line_len;
        enum pxf_log_level level = our_level(&line, &len);

        escape_line(line, len, c->last_line, sizeof c->last_line);
        pxf_log(level, "%s: %s%s", c->name, c->last_line, c->line_cut ? "..." : "");
}

static void emit_line(struct pxf_child *c)
{
        if (c->line_len == 0 && !c->line_cut)
                return;
        c->log_lines++;
        if (c->output == PXF_CHILD_OUTPUT_FOREIGN) {
                emit_foreign(c);
        } else if (c->output == PXF_CHILD_OUTPUT_CONFINED) {
                emit_confined(c);
        } else {
                /* One of ours as privileged as we are: already formatted by our logging,
                 * passed on as it is. */
                fprintf(stderr, "%.*s%s\n", (int)c->line_len, c->line, c->line_cut ? "..." : "");
                (void)snprintf(c->last_line, sizeof c->last_line, "%.*s", (int)c->line_len,
                               c->line);
        }
        if (c->ready && strstr(c->last_line, c->ready))
                c->ready_seen = true;
        c->line_len = 0;
        c->line_cut = false;
}

static void add_output(struct pxf_child *c, const char *data, size_t n)
{
        size_t max =
            c->output == PXF_CHILD_OUTPUT_FOREIGN ? PXF_CHILD_FOREIGN_LINE_MAX : sizeof c->line;

        for (size_t i = 0; i < n; i++) {
                if (data[i] == '\n')
                        emit_line(c);
                else if (c->line_len < max)
                        c->line[c->line_len++] = data[i];
                else
                        c->line_cut = true;
        }
}

/* Reads what is there; false at EOF or on an error (a last line without a newline is
 * emitted then). */
static bool read_output(struct pxf_child *c)
{
        char buf[READ_CHUNK];

        if (c->errfd < 0)
                return false;
        for (;;) {
                ssize_t n = read(c->errfd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0) {
                        emit_line(c);
                        return false;
                }
                add_output(c, buf, (size_t)n);
        }
}

static void on_output(evutil_socket_t fd, short what, void *userdata)
{
        struct pxf_child *c = userdata;

        (void)fd;
        (void)what;
        if (!read_output(c))
                (void)event_del(c->err_ev);
}

/* ---- the process -------------------------------------------------------------------- */

static void describe_status(const siginfo_t *si, char *buf, size_t size)
{
        if (si->si_code == CLD_EXITED)
                (void)snprintf(buf, size, "exited with status %d", si->si_status);
        else
                (void)snprintf(buf, size, "was killed by signal %d (%s)", si->si_status,
                               strsignal(si->si_status));
}

static void close_process(struct pxf_child *c)
{
        if (c->exit_ev)
                event_free(c->exit_ev);
        if (c->err_ev)
                event_free(c->err_ev);
        c->exit_ev = c->err_ev = NULL;
        if (c->pidfd >= 0)
                (void)close(c->pidfd);
        if (c->errfd >= 0)
                (void)close(c->errfd);
        c->pidfd = c->errfd = -1;
        c->pid = 0;
}

/* Reaps the exited child after reading its last words (they may still be in the pipe, or
 * written by a descendant that holds it: at most 100 ms of quiet are waited for). */
static void reap(struct pxf_child *c, siginfo_t *ret)
{
        memset(ret, 0, sizeof *ret);
        while (read_output(c))
                if (poll(&(struct pollfd){.fd = c->errfd, .events = POLLIN}, 1, 100) <= 0)
                        break;
        report_held_back(c, pxf_rate_limit_flush(&c->rate));
        while (waitid(P_PIDFD, (id_t)c->pidfd, ret, WEXITED) < 0 && errno == EINTR)
                ;
        close_process(c);
}

static void on_exit_event(evutil_socket_t fd, short what, void *userdata);

static int watch(struct pxf_child *c, struct pxf_error *err)
{
        c->pidfd = pidfd_open(c->pid, 0);
        if (c->pidfd < 0)
                return pxf_error_set(err, -errno, "pidfd_open: %m");
        c->exit_ev = event_new(c->base, c->pidfd, EV_READ, on_exit_event, c);
        c->err_ev = event_new(c->base, c->errfd, EV_READ | EV_PERSIST, on_output, c);
        if (!c->exit_ev || !c->err_ev || event_add(c->exit_ev, NULL) < 0 ||
            event_add(c->err_ev, NULL) < 0)
                return pxf_error_set(err, -ENOMEM, "cannot watch %s on the event loop", c->name);
        return 0;
}

static int spawn(struct pxf_child *c, struct pxf_error *err)
{
        int r = pxf_spawn_start((const char *const *)c->argv, &c->spawn, &c->pid, &c->errfd, err);

        if (r < 0) {
                c->errfd = -1;
                return r;
        }
        c->started_usec = pxf_now_usec();
        c->last_line[0] = '\0';
        r = watch(c, err);
        if (r < 0) {
                /* A child we cannot watch is not left behind. */
                (void)kill(c->pid, SIGKILL);
                (void)waitpid(c->pid, NULL, 0);
                close_process(c);
                return r;
        }
        pxf_log(c->restart ? PXF_LOG_INFO : PXF_LOG_DEBUG, "%s started (pid %d)", c->name,
                (int)c->pid);
        return 0;
}

static void schedule_restart(struct pxf_child *c)
{
        struct timeval tv = pxf_timeval_from_ms(c->next_backoff_ms);

        (void)evtimer_add(c->restart_ev, &tv);
        c->next_backoff_ms =
            c->next_backoff_ms * 2 > c->backoff_max_ms ? c->backoff_max_ms : c->next_backoff_ms * 2;
}

static void log_exit(const struct pxf_child *c, const siginfo_t *si, uint64_t ran_usec)
{
        char status[96];
        const char *last = c->last_line;

        describe_status(si, status, sizeof status);
        if (!c->restart) {
                log_debug("%s %s after %.1f s", c->name, status, (double)ran_usec / 1e6);
                return;
        }
        log_error("%s %s after %.1f s%s%s%s; restarting it in %.1f s", c->name, status,
                  (double)ran_usec / 1e6, last[0] ? " (its last line: \"" : "", last,
                  last[0] ? "\")" : "", c->next_backoff_ms / 1000.0);
}

static void on_exit_event(evutil_socket_t fd, short what, void *userdata)
{
        struct pxf_child *c = userdata;
        uint64_t ran = pxf_now_usec() - c->started_usec;
        siginfo_t si;

        (void)fd;
        (void)what;
        reap(c, &si);
        if (ran >= (uint64_t)PXF_CHILD_STABLE_MS * 1000)
                c->next_backoff_ms = c->backoff_ms;
        log_exit(c, &si, ran);
        if (c->restart)
                schedule_restart(c);
        if (c->on_exit)
                c->on_exit(c, &si, c->userdata); /* last: it may free c */
}

static void on_restart(evutil_socket_t fd, short what, void *userdata)
{
        struct pxf_child *c = userdata;
        struct pxf_error err = {0};

        (void)fd;
        (void)what;
        c->restarts++;
        if (spawn(c, &err) < 0) {
                log_error("cannot restart %s: %s; trying again in %.1f s", c->name, err.msg,
                          c->next_backoff_ms / 1000.0);
                schedule_restart(c);
        }
}

/* ---- public ------------------------------------------------------------------------- */

static unsigned or_default(unsigned v, unsigned def)
{
        return v ? v : def;
}

static struct pxf_child *child_new(struct event_base *base, const struct pxf_child_opts *o)
{
        struct pxf_child *c = pxf_calloc(1, sizeof *c);
        size_t argc = 0;

        c->base = base;
        c->pidfd = c->errfd = -1;
        c->name = pxf_strdup(o->name);
        while (o->argv[argc])
                argc++;
        c->argv = pxf_calloc(argc + 1, sizeof *c->argv);
        for (size_t i = 0; i < argc; i++)
                c->argv[i] = pxf_strdup(o->argv[i]);
        if (o->spawn)
                c->spawn = *o->spawn;
        if (c->spawn.n_pass_fds) {
                c->pass_fds = pxf_calloc(c->spawn.n_pass_fds, sizeof *c->pass_fds);
                memcpy(c->pass_fds, c->spawn.pass_fds, c->spawn.n_pass_fds * sizeof(int));
                c->spawn.pass_fds = c->pass_fds;
        }
        c->output = o->output;
        c->restart = o->restart;
        c->backoff_ms = or_default(o->backoff_ms, PXF_CHILD_BACKOFF_MS_DEFAULT);
        c->backoff_max_ms = or_default(o->backoff_max_ms, PXF_CHILD_BACKOFF_MAX_MS_DEFAULT);
        c->next_backoff_ms = c->backoff_ms;
        c->grace_ms = or_default(o->grace_ms, PXF_CHILD_GRACE_MS_DEFAULT);
        c->on_line = o->on_line;
        c->is_detail = o->is_detail;
        c->on_exit = o->on_exit;
        c->userdata = o->userdata;
        c->rate.per_second = PXF_CHILD_LINES_PER_SECOND;
        return c;
}

int pxf_child_start(struct event_base *base, const struct pxf_child_opts *o, struct pxf_child **ret,
                    struct pxf_error *err)
{
        struct pxf_child *c = child_new(base, o);
        int r = 0;

        c->restart_ev = evtimer_new(base, on_restart, c);
        if (!c->restart_ev)
                r = pxf_error_set(err, -ENOMEM, "cannot watch %s on the event loop", c->name);
        if (r >= 0)
                r = spawn(c, err);
        if (r < 0) {
                pxf_child_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int pxf_child_wait_ready(struct pxf_child *c, const char *ready, unsigned timeout_ms,
                         struct pxf_error *err)
{
        uint64_t deadline = pxf_now_usec() + (uint64_t)timeout_ms * 1000;
        bool eof = false;
        char status[96];
        siginfo_t si;

        c->ready = ready;
        c->ready_seen = false;
        while (!c->ready_seen && pxf_now_usec() < deadline) {
                struct pollfd p[2] = {{.fd = c->pidfd, .events = POLLIN},
                                      {.fd = eof ? -1 : c->errfd, .events = POLLIN}};
                int ms = (int)((deadline - pxf_now_usec()) / 1000) + 1;
                if (poll(p, 2, ms) < 0 && errno != EINTR)
                        return pxf_error_set(err, -errno, "poll: %m");
                if (p[1].revents)
                        eof = !read_output(c);
                if (!(p[0].revents & POLLIN))
                        continue;
                c->ready = NULL;
                reap(c, &si);
                describe_status(&si, status, sizeof status);
                return pxf_error_set(err, -ECHILD, "%s %s at start-up: %s", c->name, status,
                                     c->last_line[0] ? c->last_line : "(no message)");
        }
        c->ready = NULL;
        return 0;
}

const char *pxf_child_last_line(const struct pxf_child *c)
{
        return c->last_line;
}

void pxf_child_get_stats(const struct pxf_child *c, struct pxf_child_stats *ret)
{
        *ret = (struct pxf_child_stats){
            .pid = c->pid, .restarts = c->restarts, .log_lines = c->log_lines};
}

/* Whether the process behind pidfd exits within ms; a signal (the child's own SIGCHLD)
 * does not cut the wait short. */
static bool exits_within(int pidfd, unsigned ms)
{
        uint64_t deadline = pxf_now_usec() + (uint64_t)ms * 1000;
        int r;

        do {
                uint64_t now = pxf_now_usec();
                int left = now < deadline ? (int)((deadline - now) / 1000) + 1 : 0;

                r = poll(&(struct pollfd){.fd = pidfd, .events = POLLIN}, 1, left);
        } while (r < 0 && errno == EINTR);
        return r > 0;
}

static void stop(struct pxf_child *c)
{
        siginfo_t si;

        if (c->pidfd < 0)
                return;
        (void)pidfd_send_signal(c->pidfd, SIGTERM, NULL, 0);
        if (!exits_within(c->pidfd, c->grace_ms)) {
                log_warning("%s did not stop within %u ms; killing it", c->name, c->grace_ms);
                (void)pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0);
        }
        reap(c, &si);
        log_debug("%s stopped", c->name);
}

struct pxf_child *pxf_child_free(struct pxf_child *c)
{
        if (!c)
                return NULL;
        stop(c);
        close_process(c);
        if (c->restart_ev)
                event_free(c->restart_ev);
        pxf_strv_free(c->argv);
        free(c->pass_fds);
        free(c->name);
        free(c);
        return NULL;
}
