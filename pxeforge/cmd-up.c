/* pxeforge up: build PXE artifacts from a config (as `customize` does), then serve them
 * (as `serve` does), in one process tree; rebuild on SIGHUP, or with --watch whenever the
 * config file changes.
 *
 * Builds are kept in the state directory as build-<n>/, and `current` is a symlink to the
 * one being served. A rebuild runs `pxeforge customize` as a child into the next
 * build-<n>; only when it succeeded is `current` swapped (rename of a new symlink over it,
 * atomic), so the servers, which resolve the folder on every request, pick up the new
 * files while transfers in flight finish on the old ones. The older builds are removed
 * after the swap; their files stay readable to whoever still has them open.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "pxeforge/appliance.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

#define STATE_ROOT       "/var/lib/pxeforge"
#define WATCH_SETTLE_MS  1000  /* editors write a file in several steps */
#define REBUILD_GRACE_MS 30000 /* a stopped build removes its work dir and appliance */

struct up {
        const char *config_path, *image, *build_dir, *state_arg, *image_tree_cache_dir;
        bool watch;
        bool no_cache;
        const struct cfg_config *cfg;
        char *state_dir, *current, *self, *base_url;
        unsigned generation;
        /* the rebuild in progress, and whether another was asked for meanwhile */
        struct pxf_child *build;
        char *building;
        bool again;
        int inotify_fd;
        struct event *watch_ev, *settle_ev;
        struct event_base *base;
};

/* ---- builds ------------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
        const char *slash = strrchr(path, '/');

        return slash ? slash + 1 : path;
}

/* The `pxeforge customize` command line of one build into dir. */
static char **build_argv(const struct up *u, const char *dir)
{
        char **argv = NULL;

        pxf_strv_push(&argv, u->self);
        pxf_strv_push(&argv, "customize");
        pxf_strv_push(&argv, "--config-file");
        pxf_strv_push(&argv, u->config_path);
        pxf_strv_push(&argv, "--output-path");
        pxf_strv_push(&argv, dir);
        pxf_strv_push(&argv, "--output-image-format");
        pxf_strv_push(&argv, "pxe-dir");
        if (u->base_url) {
                pxf_strv_push(&argv, "--bootstrap-base-url");
                pxf_strv_push(&argv, u->base_url);
        }
        if (u->image) {
                pxf_strv_push(&argv, "--image-file");
                pxf_strv_push(&argv, u->image);
        }
        if (u->build_dir) {
                pxf_strv_push(&argv, "--build-dir");
                pxf_strv_push(&argv, u->build_dir);
        }
        if (u->image_tree_cache_dir) {
                pxf_strv_push(&argv, "--image-tree-cache-dir");
                pxf_strv_push(&argv, u->image_tree_cache_dir);
        }
        if (u->no_cache)
                pxf_strv_push(&argv, "--no-cache");
        /* The booted systems report to this appliance unless the config says otherwise. */
        if (!u->cfg->server.boot_report_loc.line)
                pxf_strv_push(&argv, "--boot-report");
        pxf_strv_push(&argv, "--log-level");
        pxf_strv_push(&argv, pxf_log_get_level() == PXF_LOG_DEBUG ? "debug" : "info");
        return argv;
}

/* A build runs as `customize` would from this shell: libguestfs settings, proxies and
 * the like come from the environment. */
static const char *const *build_env(void)
{
        extern char **environ;

        return (const char *const *)environ;
}

/* The next free build-<n> below the state directory. */
static char *next_build_dir(struct up *u)
{
        for (;;) {
                char *dir = pxf_asprintf("%s/build-%u", u->state_dir, ++u->generation);
                struct stat st;
                if (lstat(dir, &st) < 0 && errno == ENOENT)
                        return dir;
                free(dir);
        }
}

/* Points `current` at dir: a new symlink renamed over the old one, so a reader sees
 * either the old or the new folder, never none. */
static int publish(struct up *u, const char *dir, struct pxf_error *err)
{
        _cleanup_free_ char *tmp = pxf_asprintf("%s.new", u->current);
        const char *name = base_name(dir);

        (void)unlink(tmp);
        if (symlink(name, tmp) < 0 || rename(tmp, u->current) < 0) {
                int r = -errno;
                (void)unlink(tmp);
                return pxf_error_set(err, r, "cannot point '%s' at '%s': %s", u->current, dir,
                                     strerror(-r));
        }
        log_info("serving %s", dir);
        return 0;
}

/* Every build-<n> but the one being served (and the one being built). */
static void remove_old_builds(const struct up *u, const char *keep)
{
        const char *keep_name = base_name(keep);
        DIR *d = opendir(u->state_dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, "build-", 6) != 0 || strcmp(de->d_name, keep_name) == 0)
                        continue;
                if (u->building && strcmp(base_name(u->building), de->d_name) == 0)
                        continue;
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", u->state_dir, de->d_name);
                (void)pxf_rm_rf(path);
        }
        (void)closedir(d);
}

/* The first build, before anything is served: its own loop until the child exits. */
static void first_build_exited(struct pxf_child *c, const siginfo_t *si, void *userdata)
{
        int *status = userdata;

        (void)c;
        *status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
}

static int first_build(struct up *u, struct pxf_error *err)
{
        _cleanup_free_ char *dir = next_build_dir(u);
        _cleanup_strv_free_ char **argv = build_argv(u, dir);
        struct pxf_spawn_opts opts = {.stdout_fd = PXF_SPAWN_INHERIT, .envp = build_env()};
        struct event_base *base = event_base_new();
        int status = -1, r;
        const struct pxf_child_opts child_opts = {
            .name = "the build",
            .argv = (const char *const *)argv,
            .spawn = &opts,
            .output = PXF_CHILD_OUTPUT_OURS,
            .on_exit = first_build_exited,
            .userdata = &status,
        };
        struct pxf_child *child = NULL;

        if (!base)
                return pxf_error_set(err, -ENOMEM, "cannot create an event loop");
        log_info("building %s", dir);
        r = pxf_child_start(base, &child_opts, &child, err);
        if (r >= 0)
                (void)event_base_dispatch(base);
        child = pxf_child_free(child); /* reaped already: this only frees it */
        event_base_free(base);
        if (r >= 0 && status != 0)
                r = pxf_error_set(err, -ECHILD, "the build failed (status %d); nothing to serve",
                                  status);
        if (r >= 0)
                r = publish(u, dir, err);
        if (r >= 0)
                remove_old_builds(u, dir);
        else
                (void)pxf_rm_rf(dir); /* nothing half-built stays behind */
        return r;
}

static void start_rebuild(struct up *u);

static void rebuild_exited(struct pxf_child *c, const siginfo_t *si, void *userdata)
{
        struct up *u = userdata;
        struct pxf_error err = {0};
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;

        u->build = pxf_child_free(c); /* reaped already: this only frees it */
        if (ok && publish(u, u->building, &err) >= 0) {
                remove_old_builds(u, u->building);
        } else {
                /* A build that is not served is removed, whatever stopped it. */
                log_error("rebuild into %s failed%s%s; still serving the previous artifacts",
                          u->building, ok ? ": " : "", ok ? err.msg : "");
                (void)pxf_rm_rf(u->building);
        }
        free(u->building);
        u->building = NULL;
        if (u->again) {
                u->again = false;
                start_rebuild(u);
        }
}

static void start_rebuild(struct up *u)
{
        _cleanup_strv_free_ char **argv = NULL;
        struct pxf_spawn_opts opts = {.stdout_fd = PXF_SPAWN_INHERIT, .envp = build_env()};
        struct pxf_error err = {0};

        if (u->build) {
                log_info("a rebuild is running; another one follows it");
                u->again = true;
                return;
        }
        u->building = next_build_dir(u);
        argv = build_argv(u, u->building);
        log_info("rebuilding into %s", u->building);
        if (pxf_child_start(u->base,
                            &(const struct pxf_child_opts){.name = "the rebuild",
                                                           .argv = (const char *const *)argv,
                                                           .spawn = &opts,
                                                           .output = PXF_CHILD_OUTPUT_OURS,
                                                           .grace_ms = REBUILD_GRACE_MS,
                                                           .on_exit = rebuild_exited,
                                                           .userdata = u},
                            &u->build, &err) < 0) {
                log_error("cannot start the rebuild: %s", err.msg);
                free(u->building);
                u->building = NULL;
        }
}

/* ---- SIGHUP and --watch ------------------------------------------------------------ */

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
        (void)fd;
        (void)what;
        log_info("the config file changed");
        start_rebuild(arg);
}

/* Any event on the config's directory that names the config file starts (or restarts)
 * the settle timer. */
static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
        struct up *u = arg;
        const char *name = base_name(u->config_path);
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        const struct timeval settle = pxf_timeval_from_ms(WATCH_SETTLE_MS);
        ssize_t n = read(fd, buf, sizeof buf);
        bool hit = false;

        (void)what;
        for (char *p = buf; n > 0 && p < buf + n;) {
                const struct inotify_event *ev = (const struct inotify_event *)p;
                hit = hit || (ev->len && strcmp(ev->name, name) == 0);
                p += sizeof *ev + ev->len;
        }
        if (hit)
                event_add(u->settle_ev, &settle);
}

static int start_watch(struct up *u, struct event_base *base, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_dirname(u->config_path);

        u->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (u->inotify_fd < 0 ||
            inotify_add_watch(u->inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
                return pxf_error_set(err, -errno, "cannot watch '%s': %m", dir);
        u->watch_ev = event_new(base, u->inotify_fd, EV_READ | EV_PERSIST, on_inotify, u);
        u->settle_ev = evtimer_new(base, on_settled, u);
        event_add(u->watch_ev, NULL);
        log_info("watching %s for changes", u->config_path);
        return 0;
}

/* Called on SIGHUP inside the appliance's loop. */
static void on_hup(struct event_base *base, void *userdata)
{
        struct up *u = userdata;

        u->base = base;
        log_info("SIGHUP: rebuilding");
        start_rebuild(u);
}

/* ---- setup ------------------------------------------------------------------------- */

/* The served files are read by the unprivileged server, through the state directory. One
 * made here is opened to it whatever the umask; an existing one keeps its mode (it may be
 * a directory such as /root), and must already let the server through. */
static int prepare_state_dir(const char *dir, struct pxf_error *err)
{
        struct stat st;
        bool existed = stat(dir, &st) == 0;
        int r = pxf_mkdir_p(dir, 0755);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create '%s': %s", dir, strerror(-r));
        if (!existed)
                return chmod(dir, 0755) < 0
                           ? pxf_error_set(err, -errno, "cannot chmod '%s': %m", dir)
                           : 0;
        if (!S_ISDIR(st.st_mode))
                return pxf_error_set(err, -ENOTDIR, "the state directory '%s' is not a folder",
                                     dir);
        if ((st.st_mode & S_IXOTH) == 0)
                return pxf_error_set(err, -EACCES,
                                     "the state directory '%s' (mode %04o) does not let the "
                                     "unprivileged server through: choose another "
                                     "server.stateDir or --state-dir, or chmod o+x it",
                                     dir, (unsigned)(st.st_mode & 07777));
        return 0;
}

static int resolve_state(struct up *u, struct pxf_error *err)
{
        _cleanup_free_ char *name = pxf_strdup(base_name(u->config_path));
        char *dot = strrchr(name, '.');
        int r = appliance_self_exe(&u->self, err);

        if (r < 0)
                return r;
        if (dot && dot != name)
                *dot = '\0';
        u->state_dir = u->state_arg               ? pxf_strdup(u->state_arg)
                       : u->cfg->server.state_dir ? pxf_strdup(u->cfg->server.state_dir)
                                                  : pxf_asprintf(STATE_ROOT "/%s", name);
        u->current = pxf_asprintf("%s/current", u->state_dir);
        return prepare_state_dir(u->state_dir, err);
}

static struct appliance_opts serve_opts(const struct up *u)
{
        struct appliance_opts o = {.artifacts = u->current,
                                   .name = u->config_path,
                                   .state_dir = u->state_dir,
                                   .on_hup = on_hup};

        server_settings(&o, &u->cfg->server, false);
        return o;
}

/* The appliance's own HTTP URL, the default place a bootstrap initramfs fetches from. */
static int resolve_base_url(struct up *u, struct pxf_error *err)
{
        const struct cfg_server *s = &u->cfg->server;
        char addr[64] = "", mask[64];
        int r = 0;

        if (s->address)
                snprintf(addr, sizeof addr, "%s", s->address);
        else if (s->interface)
                r = appliance_interface_ipv4(s->interface, addr, sizeof addr, mask, sizeof mask,
                                             err);
        if (r < 0)
                return r;
        if (!addr[0])
                return 0; /* no address to offer: the config must name the URL itself */
        u->base_url =
            pxf_asprintf("http://%s:%d/", addr, s->http_port ? s->http_port : APPLIANCE_HTTP_PORT);
        return 0;
}

static void up_free(struct up *u)
{
        u->build = pxf_child_free(u->build);
        if (u->watch_ev)
                event_free(u->watch_ev);
        if (u->settle_ev)
                event_free(u->settle_ev);
        if (u->inotify_fd > 0)
                (void)close(u->inotify_fd);
        if (u->building)
                (void)pxf_rm_rf(u->building);
        free(u->building);
        free(u->state_dir);
        free(u->current);
        free(u->self);
        free(u->base_url);
}

/* Arms --watch on the appliance's loop once it runs. */
static void on_start(struct event_base *base, void *userdata)
{
        struct up *u = userdata;
        struct pxf_error err = {0};

        u->base = base;
        if (u->watch && start_watch(u, base, &err) < 0)
                log_error("%s (rebuilds on SIGHUP only)", err.msg);
}

static int run(void *args)
{
        struct up *u = args;
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        struct appliance_opts o;
        struct pxf_error err = {0};
        int r = load_config(u->config_path, true, &cfg);

        if (r != PXF_EXIT_OK)
                return r;
        u->cfg = cfg;
        r = resolve_state(u, &err);
        if (r >= 0)
                r = resolve_base_url(u, &err);
        if (r >= 0)
                r = first_build(u, &err);
        if (r >= 0) {
                o = serve_opts(u);
                o.userdata = u;
                o.on_start = on_start;
                r = appliance_run(&o, &err);
        }
        up_free(u);
        return exit_status(r, &err);
}

static void init(void *args)
{
        struct up *u = args;

        u->inotify_fd = -1;
}

#define ARG(m) offsetof(struct up, m)

static const struct cli_option options[] = {
    {"config-file", "FILE", CLI_STRING, ARG(config_path), NULL, true, "the YAML configuration"},
    {"image-file", "FILE", CLI_STRING, ARG(image), NULL, false,
     "input image (overrides input.image.path)"},
    {"build-dir", "DIR", CLI_STRING, ARG(build_dir), NULL, false, "scratch space for builds"},
    {"state-dir", "DIR", CLI_STRING, ARG(state_arg), NULL, false,
     "where builds are kept (overrides server.stateDir; default " STATE_ROOT "/<config name>)"},
    {"watch", NULL, CLI_FLAG, ARG(watch), NULL, false, "rebuild when the config file changes"},
    {"image-tree-cache-dir", "DIR", CLI_STRING, ARG(image_tree_cache_dir), NULL, false,
     "where the image's exported tree is kept: see customize --image-tree-cache-dir"},
    {"no-cache", NULL, CLI_FLAG, ARG(no_cache), NULL, false,
     "rebuild everything every time (by default a rebuild reuses the customized tree and "
     "what was made from it while their inputs are unchanged: see customize --cache-dir)"},
};

const struct cli_command cli_cmd_up = {
    .name = "up",
    .synopsis = "--config-file FILE [OPTIONS]",
    .summary = "build PXE artifacts from a config and serve them; rebuild on SIGHUP",
    .description =
        "Builds PXE artifacts from the configuration (as `customize` does, always pxe-dir)\n"
        "and serves them (as `serve` does) with the settings of the config's `server`\n"
        "section. A bootstrap build whose config sets no pxe.bootstrap*Url fetches\n"
        "image.iso from this appliance's own HTTP server. On SIGHUP, or with --watch when\n"
        "the config file changes, it rebuilds and swaps the served artifacts atomically;\n"
        "a failed rebuild keeps serving the previous ones.\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 stopped by a signal, 1 failure, 2 bad command line, 3 invalid "
                   "configuration.",
    .args_size = sizeof(struct up),
    .init = init,
    .run = run,
};
