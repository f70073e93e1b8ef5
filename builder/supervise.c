/* bld_run(): resolves what to build, then does it in a child process in its own process
 * group. The parent only waits, forwards SIGINT/SIGTERM as a stop request, and cleans up
 * afterwards: the work directory always, the partial output whenever it is still there.
 * The child never needs to clean up after a signal, which is what makes a build safe to
 * interrupt at any point, including inside a blocking libguestfs call. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "artifacts/artifacts.h"
#include "builder/builder-internal.h"
#include "builder/run-internal.h"

#define WORK_PREFIX        "pxeforge-"
#define PARTIAL_INFIX      ".pxeforge-partial-"
#define STOP_GRACE_SECONDS 15
#define FAILED_LOG_PREFIX  "failed-build-"
#define FAILED_LOGS_KEPT   5

static const struct {
        const char *suffix;
        enum cfg_image_format format;
} suffix_formats[] = {
    {".qcow2", CFG_FORMAT_QCOW2}, {".raw", CFG_FORMAT_RAW}, {".img", CFG_FORMAT_RAW},
    {".vhdx", CFG_FORMAT_VHDX},   {".vhd", CFG_FORMAT_VHD}, {".tar.gz", CFG_FORMAT_PXE_TAR},
    {".iso", CFG_FORMAT_ISO},
};

static enum cfg_image_format format_from_name(const char *path)
{
        for (size_t i = 0; i < PXF_ELEMENTSOF(suffix_formats); i++)
                if (pxf_has_suffix(path, suffix_formats[i].suffix))
                        return suffix_formats[i].format;
        return CFG_FORMAT_UNSET;
}

static int resolve_format(const struct bld_options *o, const char *output,
                          enum cfg_image_format *ret, struct pxf_error *err)
{
        enum cfg_image_format f = o->output_format ? o->output_format : o->cfg->output_image_format;

        if (!f)
                f = format_from_name(output);
        if (!f)
                return pxf_error_set(err, -EINVAL,
                                     "no output format: set output.image.format or "
                                     "--output-image-format");
        *ret = f;
        return 0;
}

static int resolve_output(const struct bld_job *job, struct pxf_error *err)
{
        _cleanup_free_ char *dir = pxf_dirname(job->output);
        struct stat st, in;

        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return pxf_error_set(err, -ENOENT,
                                     "the directory of the output path '%s' "
                                     "does not exist",
                                     job->output);
        if (stat(job->output, &st) == 0 && stat(job->image, &in) == 0 && st.st_dev == in.st_dev &&
            st.st_ino == in.st_ino)
                return pxf_error_set(err, -EINVAL, "the output path '%s' is the input image",
                                     job->output);
        return 0;
}

/* A bootstrap PXE build needs the ISO's URL: said now, not after the customization. */
static int check_live_output(const struct bld_options *o, enum cfg_image_format format,
                             struct pxf_error *err)
{
        const struct art_request req = {
            .cfg = o->cfg,
            .format = format,
            .default_bootstrap_base_url = o->default_bootstrap_base_url,
        };

        return art_check(&req, err);
}

static int resolve_job(const struct bld_options *o, struct bld_job *job, struct pxf_error *err)
{
        job->opts = o;
        job->image = o->image_path ? o->image_path : o->cfg->input_image_path;
        job->output = o->output_path ? o->output_path : o->cfg->output_image_path;
        if (!job->image)
                return pxf_error_set(err, -EINVAL,
                                     "no input image: set input.image.path or "
                                     "--image-file");
        if (access(job->image, F_OK) < 0)
                return pxf_error_set(err, -ENOENT, "input image '%s' does not exist", job->image);
        if (!job->output)
                return pxf_error_set(err, -EINVAL,
                                     "no output path: set output.image.path or "
                                     "--output-path");
        int r = resolve_format(o, job->output, &job->format, err);
        if (r >= 0)
                r = check_live_output(o, job->format, err);
        return r < 0 ? r : resolve_output(job, err);
}

static bool pid_alive(const char *digits)
{
        char *end;
        long pid = strtol(digits, &end, 10);

        if (*digits == '\0' || (*end != '\0' && *end != '.') || pid <= 0)
                return true; /* not ours to judge: leave it */
        return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Leftovers of runs that were killed too hard to clean up (SIGKILL, power loss). */
static void remove_stale(const char *dir, const char *prefix, bool anchored)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                const char *at = strstr(de->d_name, prefix);
                if (!at || (anchored && at != de->d_name))
                        continue;
                if (pid_alive(at + strlen(prefix)))
                        continue;
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, de->d_name);
                log_info("removing '%s' left by an earlier run", path);
                (void)pxf_rm_rf(path);
        }
        (void)closedir(d);
}

static int prepare_paths(struct bld_job *job, const char *build_dir, struct pxf_error *err)
{
        _cleanup_free_ char *out_dir = pxf_dirname(job->output);
        const char *base = strrchr(job->output, '/');
        int r = pxf_mkdir_p(build_dir, 0755);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create build directory '%s': %s", build_dir,
                                     strerror(-r));
        remove_stale(build_dir, WORK_PREFIX, true);
        remove_stale(out_dir, PARTIAL_INFIX, false);
        job->work_dir = pxf_asprintf("%s/" WORK_PREFIX "%d", build_dir, (int)getpid());
        job->cache_dir = job->opts->no_cache    ? NULL
                         : job->opts->cache_dir ? pxf_strdup(job->opts->cache_dir)
                                                : pxf_asprintf("%s/cache", build_dir);
        job->image_tree_cache_dir = !job->cache_dir ? NULL
                                    : job->opts->image_tree_cache_dir
                                        ? pxf_strdup(job->opts->image_tree_cache_dir)
                                        : pxf_strdup(job->cache_dir);
        job->overlay = pxf_asprintf("%s/work.qcow2", job->work_dir);
        job->log = pxf_asprintf("%s/build.log", job->work_dir);
        job->partial = pxf_asprintf("%s/.%s" PARTIAL_INFIX "%d", out_dir,
                                    base ? base + 1 : job->output, (int)getpid());
        if (mkdir(job->work_dir, 0700) < 0)
                return pxf_error_set(err, -errno, "cannot create '%s': %m", job->work_dir);
        return 0;
}

static void job_cleanup(struct bld_job *job)
{
        if (job->work_dir)
                (void)pxf_rm_rf(job->work_dir);
        if (job->partial) {
                _cleanup_free_ char *inner = pxf_asprintf("%s.partial", job->partial);
                (void)pxf_rm_rf(job->partial);
                (void)unlink(inner);
        }
        free(job->work_dir);
        free(job->cache_dir);
        free(job->image_tree_cache_dir);
        free(job->overlay);
        free(job->log);
        free(job->partial);
}

static _Noreturn void child_main(const struct bld_job *job, int report_fd, pid_t parent)
{
        struct pxf_error err = {0};
        sigset_t none;
        int r;

        /* If the supervisor is killed outright, the build stops too (libguestfs' recovery
         * process then stops the appliance); the next run removes what is left. */
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
                _exit(1);
        (void)setpgid(0, 0);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        if ((r = pxf_log_open_file(job->log)) < 0)
                log_warning("cannot write the build's log '%s': %s", job->log, strerror(-r));
        log_debug("building %s (%s) from '%s' with '%s'", job->output,
                  cfg_image_format_to_string(job->format), job->image,
                  job->convert ? "no config (convert)" : job->opts->cfg->path);
        r = job->convert ? bld_job_convert(job, &err) : bld_job_customize(job, &err);
        if (r < 0) {
                if (err.code == 0)
                        pxf_error_set(&err, r, "build failed: %s", strerror(-r));
                (void)!write(report_fd, &err, sizeof err);
        }
        _exit(r < 0 ? 1 : 0);
}

/* Waits for the child; a stop signal turns into SIGTERM for its process group, and
 * SIGKILL if it has not ended after a grace period. */
static int wait_child(pid_t pid, const sigset_t *sigs, bool *interrupted)
{
        struct timespec grace = {.tv_sec = STOP_GRACE_SECONDS};
        int status;

        for (;;) {
                siginfo_t si;
                int sig = *interrupted ? sigtimedwait(sigs, &si, &grace) : sigwaitinfo(sigs, &si);
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
                if (sig < 0 && errno == EAGAIN && *interrupted) {
                        log_warning("the build did not stop in time; killing it");
                        (void)kill(-pid, SIGKILL);
                } else if (sig == SIGINT || sig == SIGTERM) {
                        if (!*interrupted)
                                log_warning("interrupted: stopping the build and cleaning up");
                        *interrupted = true;
                        (void)kill(-pid, SIGTERM);
                }
        }
}

struct failed_log {
        char name[NAME_MAX + 1];
        time_t mtime;
};

static int older_first(const void *a, const void *b)
{
        const struct failed_log *x = a, *y = b;

        return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Removes the oldest logs of failed builds until at most keep are left. */
static void prune_failed_logs(const char *build_dir, size_t keep)
{
        DIR *d = opendir(build_dir);
        struct failed_log *logs = NULL;
        struct dirent *de;
        struct stat st;
        size_t n = 0;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, FAILED_LOG_PREFIX, strlen(FAILED_LOG_PREFIX)) != 0 ||
                    !pxf_has_suffix(de->d_name, ".log") ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                logs = pxf_reallocarray(logs, n + 1, sizeof *logs);
                (void)snprintf(logs[n].name, sizeof logs[n].name, "%s", de->d_name);
                logs[n++].mtime = st.st_mtime;
        }
        if (n > 0)
                qsort(logs, n, sizeof *logs, older_first);
        for (size_t i = 0; i + keep < n; i++)
                (void)unlinkat(dirfd(d), logs[i].name, 0);
        (void)closedir(d);
        free(logs);
}

/* A failed build's log outlives the work directory, and its error says where it is. */
static void keep_failed_log(const struct bld_job *job, const char *build_dir, struct pxf_error *err)
{
        _cleanup_free_ char *dir = realpath(build_dir, NULL);
        _cleanup_free_ char *kept =
            pxf_asprintf("%s/" FAILED_LOG_PREFIX "%d.log", dir ? dir : build_dir, (int)getpid());

        prune_failed_logs(build_dir, FAILED_LOGS_KEPT - 1);
        if (rename(job->log, kept) == 0)
                pxf_error_append(err, "\n  the whole log of this build: %s", kept);
}

static int supervise(struct bld_job *job, struct pxf_error *err)
{
        sigset_t sigs, old;
        bool interrupted = false;
        int fds[2], r;
        pid_t pid, parent;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return pxf_error_set(err, -errno, "cannot create a pipe: %m");
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGCHLD);
        (void)sigprocmask(SIG_BLOCK, &sigs, &old);
        parent = getpid();
        pid = fork();
        if (pid == 0)
                child_main(job, fds[1], parent);
        (void)close(fds[1]);
        if (pid < 0)
                r = pxf_error_set(err, -errno, "cannot start the build process: %m");
        else
                r = wait_child(pid, &sigs, &interrupted);
        if (interrupted)
                r = pxf_error_set(err, -ECANCELED, "interrupted");
        else if (r < 0 && read(fds[0], err, sizeof *err) != (ssize_t)sizeof *err)
                pxf_error_set(err, r, "the build process failed without a report");
        (void)close(fds[0]);
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        return r < 0 ? err->code : 0;
}

/* Both kinds of job, once resolved. */
static int run_job(struct bld_job *job, int r, struct pxf_error *err)
{
        const char *build_dir = job->opts->build_dir ? job->opts->build_dir : BLD_DEFAULT_BUILD_DIR;

        if (r >= 0)
                r = prepare_paths(job, build_dir, err);
        if (r >= 0)
                r = supervise(job, err);
        if (r < 0 && r != -ECANCELED && job->log)
                keep_failed_log(job, build_dir, err);
        job_cleanup(job);
        return r;
}

int bld_convert(const struct bld_options *opts, struct pxf_error *err)
{
        struct bld_job job = {.opts = opts, .convert = true};
        int r = 0;

        job.image = opts->image_path;
        job.output = opts->output_path;
        job.format = opts->output_format;
        if (!cfg_image_format_is_disk(job.format))
                r = pxf_error_set(err, -EINVAL,
                                  "convert writes disk images: raw, qcow2, vhd, vhd-fixed or "
                                  "vhdx, not %s",
                                  cfg_image_format_to_string(job.format));
        if (r >= 0 && access(job.image, F_OK) < 0)
                r = pxf_error_set(err, -ENOENT, "input image '%s' does not exist", job.image);
        if (r >= 0)
                r = resolve_output(&job, err);
        return run_job(&job, r, err);
}

int bld_run(const struct bld_options *opts, struct pxf_error *err)
{
        struct bld_job job = {0};

        return run_job(&job, resolve_job(opts, &job, err), err);
}
