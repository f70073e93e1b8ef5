/* pxeforge up: build PXE artifacts from a config (as `customize` does), then serve them
 * (as `serve` does), in one process tree; rebuild on SIGHUP, or with --watch whenever the
 * config file changes. With --build, more configs are built beside the first, each into
 * its own folder, and the first config's server.machines says which machine boots which
 * (pxeforge/routing.h).
 *
 * Builds are kept in the state directory as build-<n>/ (another config's below
 * builds/<name>/), and `current` is a symlink to the one being served. A rebuild runs `pxeforge
 * customize` as a child into the next build-<n>; only when it succeeded is `current` swapped
 * (rename of a new symlink over it, atomic), so the servers, which resolve the folder on every
 * request, pick up the new files while transfers in flight finish on the old ones. The older builds
 * are removed after the swap; their files stay readable to whoever still has them open.
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
#include "status/groups.h"

#define STATE_ROOT       "/var/lib/pxeforge"
#define WATCH_SETTLE_MS  1000  /* editors write a file in several steps */
#define REBUILD_GRACE_MS 30000 /* a stopped build removes its work dir and appliance */

struct up;

/* One config and the folders built from it. */
struct up_build {
        struct up *up;
        char *name;              /* what machine groups call it */
        const char *config_path; /* as given */
        char *dir;               /* where its build-<n>/ and `current` are */
        char *current;
        unsigned generation;
        /* the rebuild in progress, and whether another was asked for meanwhile */
        struct pxf_child *child;
        char *building;
        bool again;
        struct event *settle_ev; /* --watch: its config changed, wait for the editor */
        int wd;                  /* --watch: the watch on its config's folder */
};

struct up {
        const char *config_path, *image, *build_dir, *state_arg, *image_tree_cache_dir;
        char **more_configs; /* --build [NAME=]FILE, as given */
        bool watch;
        bool no_cache;
        const struct cfg_config *cfg; /* the first config's: its server section rules */
        char *state_dir, *self, *base_url;
        struct up_build *builds; /* the first config's first */
        size_t n_builds;
        char **served; /* "NAME=DIR" of each build but the first, for the appliance */
        char **names;  /* each build's name, NULL-terminated */
        struct grp_set groups;
        int inotify_fd;
        struct event *watch_ev;
        struct event_base *base;
};

/* ---- builds ------------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
        const char *slash = strrchr(path, '/');

        return slash ? slash + 1 : path;
}

/* The `pxeforge customize` command line of one build into dir. */
static char **build_argv(const struct up_build *b, const char *dir)
{
        const struct up *u = b->up;
        char **argv = NULL;

        pxf_strv_push(&argv, u->self);
        pxf_strv_push(&argv, "customize");
        pxf_strv_push(&argv, "--config-file");
        pxf_strv_push(&argv, b->config_path);
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

/* The next free build-<n> of b. */
static char *next_build_dir(struct up_build *b)
{
        for (;;) {
                char *dir = pxf_asprintf("%s/build-%u", b->dir, ++b->generation);
                struct stat st;
                if (lstat(dir, &st) < 0 && errno == ENOENT)
                        return dir;
                free(dir);
        }
}

/* Points `current` at dir: a new symlink renamed over the old one, so a reader sees
 * either the old or the new folder, never none. */
static int publish(struct up_build *b, const char *dir, struct pxf_error *err)
{
        _cleanup_free_ char *tmp = pxf_asprintf("%s.new", b->current);
        const char *name = base_name(dir);

        (void)unlink(tmp);
        if (symlink(name, tmp) < 0 || rename(tmp, b->current) < 0) {
                int r = -errno;
                (void)unlink(tmp);
                return pxf_error_set(err, r, "cannot point '%s' at '%s': %s", b->current, dir,
                                     strerror(-r));
        }
        log_info("serving %s", dir);
        return 0;
}

/* Every build-<n> of b but the one being served (and the one being built). */
static void remove_old_builds(const struct up_build *b, const char *keep)
{
        const char *keep_name = base_name(keep);
        DIR *d = opendir(b->dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, "build-", 6) != 0 || strcmp(de->d_name, keep_name) == 0)
                        continue;
                if (b->building && strcmp(base_name(b->building), de->d_name) == 0)
                        continue;
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", b->dir, de->d_name);
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

static int first_build(struct up_build *b, struct pxf_error *err)
{
        _cleanup_free_ char *dir = next_build_dir(b);
        _cleanup_strv_free_ char **argv = build_argv(b, dir);
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
                r = publish(b, dir, err);
        if (r >= 0)
                remove_old_builds(b, dir);
        else
                (void)pxf_rm_rf(dir); /* nothing half-built stays behind */
        return r;
}

static void start_rebuild(struct up_build *b);

static void rebuild_exited(struct pxf_child *c, const siginfo_t *si, void *userdata)
{
        struct up_build *b = userdata;
        struct pxf_error err = {0};
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;

        b->child = pxf_child_free(c); /* reaped already: this only frees it */
        if (ok && publish(b, b->building, &err) >= 0) {
                remove_old_builds(b, b->building);
        } else {
                /* A build that is not served is removed, whatever stopped it. */
                log_error("rebuild into %s failed%s%s; still serving the previous artifacts",
                          b->building, ok ? ": " : "", ok ? err.msg : "");
                (void)pxf_rm_rf(b->building);
        }
        free(b->building);
        b->building = NULL;
        if (b->again) {
                b->again = false;
                start_rebuild(b);
        }
}

static void start_rebuild(struct up_build *b)
{
        _cleanup_strv_free_ char **argv = NULL;
        struct pxf_spawn_opts opts = {.stdout_fd = PXF_SPAWN_INHERIT, .envp = build_env()};
        struct pxf_error err = {0};

        if (b->child) {
                log_info("a rebuild of %s is running; another one follows it", b->name);
                b->again = true;
                return;
        }
        b->building = next_build_dir(b);
        argv = build_argv(b, b->building);
        log_info("rebuilding into %s", b->building);
        if (pxf_child_start(b->up->base,
                            &(const struct pxf_child_opts){.name = "the rebuild",
                                                           .argv = (const char *const *)argv,
                                                           .spawn = &opts,
                                                           .output = PXF_CHILD_OUTPUT_OURS,
                                                           .grace_ms = REBUILD_GRACE_MS,
                                                           .on_exit = rebuild_exited,
                                                           .userdata = b},
                            &b->child, &err) < 0) {
                log_error("cannot start the rebuild: %s", err.msg);
                free(b->building);
                b->building = NULL;
        }
}

/* ---- SIGHUP and --watch ------------------------------------------------------------ */

static void on_settled(evutil_socket_t fd, short what, void *arg)
{
        struct up_build *b = arg;

        (void)fd;
        (void)what;
        log_info("the config file %s changed", b->config_path);
        start_rebuild(b);
}

/* The build whose config the watch descriptor and file name are, or NULL. */
static struct up_build *build_of_event(struct up *u, const struct inotify_event *ev)
{
        for (size_t i = 0; ev->len && i < u->n_builds; i++)
                if (u->builds[i].wd == ev->wd &&
                    strcmp(ev->name, base_name(u->builds[i].config_path)) == 0)
                        return &u->builds[i];
        return NULL;
}

/* Any event on a config's directory that names the config file starts (or restarts) that
 * build's settle timer. */
static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
        struct up *u = arg;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        const struct timeval settle = pxf_timeval_from_ms(WATCH_SETTLE_MS);
        ssize_t n = read(fd, buf, sizeof buf);

        (void)what;
        for (char *p = buf; n > 0 && p < buf + n;) {
                const struct inotify_event *ev = (const struct inotify_event *)p;
                struct up_build *b = build_of_event(u, ev);
                if (b)
                        event_add(b->settle_ev, &settle);
                p += sizeof *ev + ev->len;
        }
}

static int start_watch(struct up *u, struct event_base *base, struct pxf_error *err)
{
        u->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (u->inotify_fd < 0)
                return pxf_error_set(err, -errno, "cannot watch the configs: %m");
        for (size_t i = 0; i < u->n_builds; i++) {
                struct up_build *b = &u->builds[i];
                _cleanup_free_ char *dir = pxf_dirname(b->config_path);
                b->wd =
                    inotify_add_watch(u->inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
                if (b->wd < 0)
                        return pxf_error_set(err, -errno, "cannot watch '%s': %m", dir);
                b->settle_ev = evtimer_new(base, on_settled, b);
                log_info("watching %s for changes", b->config_path);
        }
        u->watch_ev = event_new(base, u->inotify_fd, EV_READ | EV_PERSIST, on_inotify, u);
        event_add(u->watch_ev, NULL);
        return 0;
}

/* Called on SIGHUP inside the appliance's loop: every build again. */
static void on_hup(struct event_base *base, void *userdata)
{
        struct up *u = userdata;

        u->base = base;
        log_info("SIGHUP: rebuilding");
        for (size_t i = 0; i < u->n_builds; i++)
                start_rebuild(&u->builds[i]);
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

/* A config file's name without its folder and extension: its build's name. */
static char *name_of_config(const char *path)
{
        char *name = pxf_strdup(base_name(path)), *dot = strrchr(name, '.');

        if (dot && dot != name)
                *dot = '\0';
        return name;
}

static int resolve_state(struct up *u, struct pxf_error *err)
{
        _cleanup_free_ char *name = name_of_config(u->config_path);
        int r = appliance_self_exe(&u->self, err);

        if (r < 0)
                return r;
        u->state_dir = u->state_arg               ? pxf_strdup(u->state_arg)
                       : u->cfg->server.state_dir ? pxf_strdup(u->cfg->server.state_dir)
                                                  : pxf_asprintf(STATE_ROOT "/%s", name);
        return prepare_state_dir(u->state_dir, err);
}

/* Another config, checked now: a build that cannot start is said before anything is
 * served. Its own server section only shapes its build (the first config's serves). */
static int check_more_config(const struct up *u, const char *path, struct pxf_error *err)
{
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;

        if (load_config(path, true, &cfg) != PXF_EXIT_OK)
                return pxf_error_set(err, -EINVAL, "the config '%s' is not valid (see above)",
                                     path);
        if (cfg->server.http_port != u->cfg->server.http_port)
                log_warning("%s sets server.httpPort %d, %s %d: its machines fetch from and "
                            "report to a port this appliance does not serve",
                            path, cfg->server.http_port ? cfg->server.http_port : 80,
                            u->config_path,
                            u->cfg->server.http_port ? u->cfg->server.http_port : 80);
        return 0;
}

/* The build of spec, "[NAME=]FILE": the first config's folder is the state directory
 * itself, another's builds/NAME below it. */
static int add_build(struct up *u, const char *spec, struct pxf_error *err)
{
        const char *eq = u->n_builds ? strchr(spec, '=') : NULL;
        _cleanup_free_ char *name =
            eq ? pxf_asprintf("%.*s", (int)(eq - spec), spec) : name_of_config(spec);
        struct up_build *b;
        int r;

        if (!grp_name_valid(name))
                return pxf_error_set(err, -EINVAL,
                                     "'%s' cannot name a build (letters, digits, '-', '_' and "
                                     "'.'): give --build NAME=FILE",
                                     name);
        if (pxf_strv_contains(u->names, name))
                return pxf_error_set(err, -EINVAL,
                                     "two builds are named '%s': give --build NAME=FILE", name);
        u->builds = pxf_reallocarray(u->builds, u->n_builds + 1, sizeof *u->builds);
        b = &u->builds[u->n_builds++];
        *b = (struct up_build){.up = u, .name = TAKE_PTR(name), .wd = -1};
        b->config_path = eq ? eq + 1 : spec;
        b->dir = u->n_builds == 1 ? pxf_strdup(u->state_dir)
                                  : pxf_asprintf("%s/builds/%s", u->state_dir, b->name);
        b->current = pxf_asprintf("%s/current", b->dir);
        pxf_strv_push(&u->names, b->name);
        if (u->n_builds == 1)
                return 0;
        _cleanup_free_ char *served = pxf_asprintf("%s=%s", b->name, b->current);
        pxf_strv_push(&u->served, served);
        r = prepare_state_dir(b->dir, err);
        return r < 0 ? r : check_more_config(u, b->config_path, err);
}

/* Every build, and server.machines checked against their names. */
static int gather_builds(struct up *u, struct pxf_error *err)
{
        int r = add_build(u, u->config_path, err);

        for (size_t i = 0; r >= 0 && u->more_configs && u->more_configs[i]; i++)
                r = add_build(u, u->more_configs[i], err);
        if (r < 0 || !machine_groups_given(u->cfg))
                return r;
        if (u->cfg->server.status_loc.line && !u->cfg->server.status)
                return pxf_error_set(err, -EINVAL,
                                     "%s: server.machines needs the boot timeline, which "
                                     "server.status: false turns off",
                                     u->config_path);
        return machine_groups_from_config(u->cfg, (const char *const *)u->names, &u->groups, err);
}

/* On SIGHUP: server.machines of the first config as it is now (the builds it rebuilds
 * come from their own files). */
static int reload_groups(void *userdata, struct grp_set *ret)
{
        const struct up *u = userdata;

        return machine_groups_reload(u->config_path, (const char *const *)u->names, ret);
}

static struct appliance_opts serve_opts(const struct up *u)
{
        struct appliance_opts o = {.artifacts = u->builds[0].current,
                                   .artifacts_name = u->builds[0].name,
                                   .builds = u->served,
                                   .groups = u->groups.complete ? &u->groups : NULL,
                                   .name = u->config_path,
                                   .state_dir = u->state_dir,
                                   .reload_groups = reload_groups,
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

static void build_free(struct up_build *b)
{
        b->child = pxf_child_free(b->child);
        if (b->settle_ev)
                event_free(b->settle_ev);
        if (b->building)
                (void)pxf_rm_rf(b->building);
        free(b->building);
        free(b->name);
        free(b->dir);
        free(b->current);
}

static void up_free(struct up *u)
{
        for (size_t i = 0; i < u->n_builds; i++)
                build_free(&u->builds[i]);
        free(u->builds);
        if (u->watch_ev)
                event_free(u->watch_ev);
        if (u->inotify_fd > 0)
                (void)close(u->inotify_fd);
        pxf_strv_free(u->served);
        pxf_strv_free(u->names);
        pxf_strv_free(u->more_configs); /* last: the builds' config paths point into it */
        grp_clear(&u->groups);
        free(u->state_dir);
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

        if (r != PXF_EXIT_OK) {
                up_free(u);
                return r;
        }
        u->cfg = cfg;
        r = resolve_state(u, &err);
        if (r >= 0)
                r = gather_builds(u, &err);
        if (r >= 0)
                r = resolve_base_url(u, &err);
        for (size_t i = 0; r >= 0 && i < u->n_builds; i++)
                r = first_build(&u->builds[i], &err);
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

/* --build [NAME=]FILE, as often as there are builds. */
static int parse_more_config(const char *option, const char *value, void *field)
{
        (void)option;
        pxf_strv_push(field, value);
        return PXF_EXIT_OK;
}

#define ARG(m) offsetof(struct up, m)

static const struct cli_option options[] = {
    {"config-file", "FILE", CLI_STRING, ARG(config_path), NULL, true,
     "the YAML configuration; its `server` section says how all is served"},
    {"build", "[NAME=]FILE", CLI_CUSTOM, ARG(more_configs), parse_more_config, false,
     "one more config to build into a folder of its own and serve beside the first, for "
     "the machines whose group (server.machines of the first config) names NAME (default: "
     "FILE's name without its extension); give it once per build"},
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
        "a failed rebuild keeps serving the previous ones.\n"
        "\n"
        "With --build, each further config is built too, into builds/NAME of the state\n"
        "directory, and rebuilt with the others on SIGHUP (with --watch, when it changes);\n"
        "the first config's server.machines says which machine boots which build, its\n"
        "disk, or nothing (see pxeforge.yaml(5)).\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 stopped by a signal, 1 failure, 2 bad command line, 3 invalid "
                   "configuration.",
    .args_size = sizeof(struct up),
    .init = init,
    .run = run,
};
