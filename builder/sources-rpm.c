/* Package sources of one build on dnf and tdnf images, as the reference tool gives them:
 *
 * - a folder of .rpm files becomes a repository in the guest: its packages, and the
 *   metadata the host's createrepo_c writes for them (into the job's scratch space: the
 *   user's folder is only read);
 * - a .repo file's repositories are added, its local locations (file://, and file+rel://
 *   relative to the .repo file) copied into the guest and pointed at there; file+chroot://
 *   names a place in the image itself;
 * - the package manager reads one folder of repository files of pxeforge's (reposdir):
 *   these, plus the image's own /etc/yum.repos.d unless --disable-base-image-rpm-repos.
 *
 * Everything lives below BLD_SOURCES_DIR, the package manager's cache of this build too,
 * and goes with it after the package steps: the image keeps its own repository files and
 * cache as they were. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/builder-internal.h"

#define REPOS_DIR  BLD_SOURCES_DIR "/repos.d"
#define REPOS_FILE REPOS_DIR "/pxeforge.repo"
#define CACHE_DIR  BLD_SOURCES_DIR "/cache"
/* The image's own repository files, as the reference tool finds them. */
#define IMAGE_REPOS_DIR "/etc/yum.repos.d"

#define REPO_FILE_MAX  (1u << 20)
#define UPLOAD_DEPTH   8
#define RPM_LEAD_MAGIC "\xed\xab\xee\xdb"

/* ---- a .repo file's text ---------------------------------------------------------- */

struct repo_parse {
        const char *file;
        unsigned line;
        bld_repo_map_fn map;
        void *ctx;
        char *section; /* the current one, or NULL before the first */
        bool has_baseurl;
        const char *locations; /* "baseurl" or "gpgkey" while their lines go on, or NULL */
        FILE *out;
};

/* The keys whose values are locations, as a static string; NULL for any other key. */
static const char *location_key(const char *key, size_t len)
{
        static const char *const keys[] = {"baseurl", "gpgkey"};

        for (size_t i = 0; i < PXF_ELEMENTSOF(keys); i++)
                if (len == strlen(keys[i]) && strncmp(key, keys[i], len) == 0)
                        return keys[i];
        return NULL;
}

/* One location: file+chroot:// is the image's own place, file:// and file+rel:// the
 * host's (handed to map), anything else (http, https, ...) stays as written. */
static int map_location(struct repo_parse *p, const char *key, const char *value, char **ret,
                        struct pxf_error *err)
{
        _cleanup_free_ char *dir = NULL, *host = NULL;
        const char *rest;
        int r;

        if (strncmp(value, "file+chroot://", 14) == 0) {
                *ret = pxf_asprintf("file://%s", value + 14);
                return 0;
        }
        if (strncmp(value, "file+rel://", 11) == 0) {
                dir = pxf_dirname(p->file);
                host = pxf_path_resolve(dir, value + 11);
        } else if (strncmp(value, "file://", 7) == 0) {
                rest = value + 7;
                if (rest[0] != '/')
                        return pxf_error_set(err, -EINVAL,
                                             "%s:%u: %s '%s': a file:// location needs an "
                                             "absolute path (file+rel:// is relative to the "
                                             ".repo file)",
                                             p->file, p->line, key, value);
                host = pxf_strdup(rest);
        } else {
                *ret = pxf_strdup(value);
                return 0;
        }
        r = p->map(p->ctx, &(struct bld_repo_location){key, value, host}, ret, err);
        return r < 0 ? pxf_error_prefix(err, "%s:%u: %s '%s'", p->file, p->line, key, value) : r;
}

/* The whitespace- or comma-separated locations of text (len bytes), mapped, to p->out. */
static int map_locations(struct repo_parse *p, const char *key, const char *text, size_t len,
                         struct pxf_error *err)
{
        _cleanup_free_ char *copy = pxf_asprintf("%.*s", (int)len, text);
        const char *sep = "";
        char *save = NULL;

        for (char *v = strtok_r(copy, " \t,", &save); v; v = strtok_r(NULL, " \t,", &save)) {
                _cleanup_free_ char *mapped = NULL;
                int r = map_location(p, key, v, &mapped, err);
                if (r < 0)
                        return r;
                fprintf(p->out, "%s%s", sep, mapped);
                sep = " ";
        }
        return 0;
}

static int end_section(struct repo_parse *p, struct pxf_error *err)
{
        if (p->section && !p->has_baseurl)
                return pxf_error_set(err, -EINVAL,
                                     "%s: repository [%s] has no baseurl (a .repo file given "
                                     "with --rpm-source says where each repository is; "
                                     "metalink and mirrorlist are not read, as in Image "
                                     "Customizer)",
                                     p->file, p->section);
        return 0;
}

static int section_line(struct repo_parse *p, const char *s, size_t len, struct pxf_error *err)
{
        const char *close = memchr(s, ']', len);
        int r = end_section(p, err);

        if (r < 0)
                return r;
        if (!close || close == s + 1)
                return pxf_error_set(err, -EINVAL, "%s:%u: a section header is '[NAME]'", p->file,
                                     p->line);
        free(p->section);
        p->section = pxf_asprintf("%.*s", (int)(close - s - 1), s + 1);
        p->has_baseurl = false;
        fprintf(p->out, "%.*s\n", (int)len, s);
        return 0;
}

static int key_line(struct repo_parse *p, const char *s, size_t len, struct pxf_error *err)
{
        const char *eq = memchr(s, '=', len);
        size_t key_len;
        int r;

        if (!eq)
                return pxf_error_set(err, -EINVAL, "%s:%u: neither '[NAME]' nor 'KEY=VALUE'",
                                     p->file, p->line);
        for (key_len = (size_t)(eq - s); key_len > 0 && strchr(" \t", s[key_len - 1]);)
                key_len--;
        if (!p->section)
                return pxf_error_set(err, -EINVAL,
                                     "%s:%u: '%.*s' comes before any [repository] section", p->file,
                                     p->line, (int)key_len, s);
        p->locations = location_key(s, key_len);
        if (!p->locations) {
                fprintf(p->out, "%.*s\n", (int)len, s);
                return 0;
        }
        if (strcmp(p->locations, "baseurl") == 0)
                p->has_baseurl = true;
        fprintf(p->out, "%s=", p->locations);
        r = map_locations(p, p->locations, eq + 1, len - (size_t)(eq + 1 - s), err);
        fputc('\n', p->out);
        return r;
}

static int parse_line(struct repo_parse *p, const char *line, size_t len, struct pxf_error *err)
{
        size_t indent = strspn(line, " \t");
        const char *s = line + indent;

        len -= indent;
        if (len == 0 || s[0] == '#' || s[0] == ';') {
                fprintf(p->out, "%.*s\n", (int)(len + indent), line);
                return 0;
        }
        if (indent > 0 && p->locations) { /* more locations of the key above */
                fprintf(p->out, "%.*s", (int)indent, line);
                int r = map_locations(p, p->locations, s, len, err);
                fputc('\n', p->out);
                return r;
        }
        if (s[0] == '[')
                return section_line(p, s, len, err);
        return key_line(p, s, len, err);
}

int bld_repo_file_rewrite(const char *file, const char *text, bld_repo_map_fn map, void *ctx,
                          char **ret, struct pxf_error *err)
{
        struct repo_parse p = {.file = file, .map = map, .ctx = ctx};
        _cleanup_free_ char *out = NULL;
        size_t out_len = 0;
        int r = 0;

        p.out = open_memstream(&out, &out_len);
        if (!p.out)
                abort();
        for (const char *line = text; r >= 0 && *line;) {
                size_t len = strcspn(line, "\n");
                p.line++;
                r = parse_line(&p, line, len, err);
                line += len + (line[len] == '\n');
        }
        if (r >= 0)
                r = p.section ? end_section(&p, err)
                              : pxf_error_set(err, -EINVAL, "%s: no [repository] section", file);
        free(p.section);
        if (fclose(p.out) != 0 && r >= 0)
                r = pxf_error_set(err, -ENOMEM, "%s: out of memory", file);
        if (r >= 0)
                *ret = TAKE_PTR(out);
        return r;
}

/* ---- before any work: checks and the cache key ------------------------------------- */

static int location_exists(void *ctx, const struct bld_repo_location *loc, char **ret,
                           struct pxf_error *err)
{
        struct stat st;

        (void)ctx;
        if (stat(loc->host_path, &st) < 0)
                return pxf_error_set(err, -errno, "'%s': %m", loc->host_path);
        *ret = pxf_strdup(loc->value);
        return 0;
}

static int location_in_key(void *ctx, const struct bld_repo_location *loc, char **ret,
                           struct pxf_error *err)
{
        int r = cache_key_add_file(ctx, "a .repo file's local location", loc->host_path, err);

        *ret = pxf_strdup(loc->value);
        return r;
}

static int repo_file_walk(const char *file, bld_repo_map_fn map, void *ctx, char **ret,
                          struct pxf_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = pxf_read_file(file, REPO_FILE_MAX, &text, NULL);

        if (r < 0)
                return pxf_error_set(err, r, "--rpm-source: cannot read '%s': %s", file,
                                     strerror(-r));
        return bld_repo_file_rewrite(file, text, map, ctx, ret, err);
}

int bld_repo_file_check(const char *file, struct pxf_error *err)
{
        _cleanup_free_ char *ignored = NULL;

        return repo_file_walk(file, location_exists, NULL, &ignored, err);
}

int bld_repo_file_key(struct cache_key *k, const char *file, struct pxf_error *err)
{
        _cleanup_free_ char *ignored = NULL;

        return repo_file_walk(file, location_in_key, k, &ignored, err);
}

int bld_rpm_check(const char *dir, char *const *names, struct pxf_error *err)
{
        for (size_t i = 0; names && names[i]; i++) {
                _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, names[i]);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                char lead[4];
                struct stat st;

                if (fd < 0 || fstat(fd, &st) < 0)
                        return pxf_error_set(err, -errno, "--rpm-source: cannot read '%s': %m",
                                             path);
                if (!S_ISREG(st.st_mode) || read(fd, lead, sizeof lead) != sizeof lead ||
                    memcmp(lead, RPM_LEAD_MAGIC, sizeof lead) != 0)
                        return pxf_error_set(err, -EINVAL,
                                             "--rpm-source: '%s' is not an RPM package", path);
        }
        return 0;
}

/* ---- into the guest --------------------------------------------------------------- */

/* A host folder's files and folders (links followed: they are the user's) into the guest. */
static int upload_tree(struct bld_guest *gs, const char *host, const char *guest, int depth,
                       struct pxf_error *err)
{
        struct dirent **list = NULL;
        int n = scandir(host, &list, NULL, alphasort);
        int r = n < 0 ? pxf_error_set(err, -errno, "cannot read '%s': %m", host)
                      : bld_guest_mkdir_p(gs, guest, 0755, err);

        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                _cleanup_free_ char *from = pxf_asprintf("%s/%s", host, name);
                _cleanup_free_ char *to = pxf_asprintf("%s/%s", guest, name);
                struct stat st;

                if (r < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        ;
                else if (stat(from, &st) < 0)
                        r = pxf_error_set(err, -errno, "cannot read '%s': %m", from);
                else if (S_ISDIR(st.st_mode))
                        r = depth > 0 ? upload_tree(gs, from, to, depth - 1, err)
                                      : pxf_error_set(err, -ELOOP, "'%s' is nested too deep", from);
                else if (S_ISREG(st.st_mode))
                        r = bld_guest_upload(gs, from, to, 0644, err);
                free(list[i]);
        }
        free(list);
        return r;
}

struct upload_ctx {
        struct bld_guest *gs;
        size_t source;  /* which --rpm-source */
        unsigned count; /* locations copied so far */
};

/* A local location of a .repo file: copied into the guest, named there. */
static int location_upload(void *ctx, const struct bld_repo_location *loc, char **ret,
                           struct pxf_error *err)
{
        struct upload_ctx *u = ctx;
        _cleanup_free_ char *dir =
            pxf_asprintf("%s/repo-%zu-%u", BLD_SOURCES_DIR, u->source, u->count++);
        const char *slash = strrchr(loc->host_path, '/');
        _cleanup_free_ char *file = NULL;
        struct stat st;
        int r;

        if (stat(loc->host_path, &st) < 0)
                return pxf_error_set(err, -errno, "'%s': %m", loc->host_path);
        if (S_ISDIR(st.st_mode)) {
                r = upload_tree(u->gs, loc->host_path, dir, UPLOAD_DEPTH, err);
                *ret = r >= 0 ? pxf_asprintf("file://%s", dir) : NULL;
                return r;
        }
        file = pxf_asprintf("%s/%s", dir, slash ? slash + 1 : loc->host_path);
        r = bld_guest_mkdir_p(u->gs, dir, 0755, err);
        if (r >= 0)
                r = bld_guest_upload(u->gs, loc->host_path, file, 0644, err);
        *ret = r >= 0 ? pxf_asprintf("file://%s", file) : NULL;
        return r;
}

static void log_unsigned(const char *source, const char *repos)
{
        if (strstr(repos, "gpgcheck=0") || strstr(repos, "gpgcheck = 0"))
                log_info("  --rpm-source '%s': signature checks are off for some of its "
                         "repositories (gpgcheck=0)",
                         source);
}

static int add_repo_file(struct bld_guest *gs, const char *file, size_t i, FILE *repos,
                         struct pxf_error *err)
{
        struct upload_ctx u = {gs, i, 0};
        _cleanup_free_ char *text = NULL;
        int r = repo_file_walk(file, location_upload, &u, &text, err);

        if (r < 0)
                return r;
        log_info("  --rpm-source '%s': a .repo file (%u local location(s) copied in)", file,
                 u.count);
        log_unsigned(file, text);
        fprintf(repos, "%s\n", text);
        return 0;
}

/* The metadata of dir's packages, by the host's createrepo_c, into the scratch space. */
static int make_metadata(struct bld_guest *gs, const char *dir, char *const *names, size_t i,
                         char **ret_stage, struct pxf_error *err)
{
        _cleanup_free_ char *stage = pxf_asprintf("%s/rpm-source-%zu", gs->work_dir, i);
        _cleanup_free_ char *list = pxf_asprintf("%s/packages", stage);
        _cleanup_free_ char *text = pxf_strv_join(names, "\n");
        _cleanup_free_ char *out = pxf_asprintf("%s/out", stage);
        int r = pxf_mkdir_p(out, 0700);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create '%s': %s", out, strerror(-r));
        r = pxf_write_file_atomic(list, text, strlen(text), 0600, err);
        if (r >= 0)
                r = pxf_spawn_tool((const char *[]){"createrepo_c", "--quiet", "--pkglist", list,
                                                    "--outputdir", out, dir, NULL},
                                   "createrepo-c", NULL, err);
        if (r < 0) {
                (void)pxf_rm_rf(stage);
                return pxf_error_prefix(err, "--rpm-source '%s': writing its repository metadata",
                                        dir);
        }
        *ret_stage = TAKE_PTR(stage);
        return 0;
}

static int add_rpm_folder(struct bld_guest *gs, const char *dir, size_t i, FILE *repos,
                          struct pxf_error *err)
{
        _cleanup_free_ char *guest = pxf_asprintf("%s/rpms-%zu", BLD_SOURCES_DIR, i);
        _cleanup_free_ char *stage = NULL, *repodata = NULL, *guest_repodata = NULL;
        _cleanup_strv_free_ char **names = NULL;
        int r = bld_package_names(dir, ".rpm", &names, err);

        if (r >= 0)
                r = bld_sources_copy_packages(gs, dir, names, ".rpm", guest, err);
        if (r >= 0)
                r = make_metadata(gs, dir, names, i, &stage, err);
        if (r >= 0 && stage) {
                repodata = pxf_asprintf("%s/out/repodata", stage);
                guest_repodata = pxf_asprintf("%s/repodata", guest);
                r = upload_tree(gs, repodata, guest_repodata, 0, err);
        }
        if (stage)
                (void)pxf_rm_rf(stage);
        if (r < 0)
                return r;
        /* Unsigned, as a folder of one's own packages usually is: a .repo file can name a
         * key (gpgkey) where they are signed. */
        fprintf(repos,
                "[pxeforge-source-%zu]\nname=pxeforge --rpm-source %zu\nbaseurl=file://%s\n"
                "enabled=1\ngpgcheck=0\nrepo_gpgcheck=0\n\n",
                i, i, guest);
        log_info("  --rpm-source '%s': %zu package(s), signature checks off", dir,
                 pxf_strv_length(names));
        return 0;
}

/* The image's own repositories, unless they are off. */
static int add_image_repos(struct bld_guest *gs, FILE *repos, struct pxf_error *err)
{
        _cleanup_strv_free_ char **names = bld_guest_ls(gs, IMAGE_REPOS_DIR);
        size_t n = pxf_strv_length(names), used = 0;

        pxf_strv_sort(names);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = pxf_asprintf(IMAGE_REPOS_DIR "/%s", names[i]);
                _cleanup_free_ char *text = NULL;
                int r;

                if (!pxf_has_suffix(names[i], ".repo") || bld_guest_is_dir(gs, path))
                        continue;
                r = bld_guest_read(gs, path, REPO_FILE_MAX, &text, err);
                if (r < 0)
                        return r;
                fprintf(repos, "%s\n", text);
                used++;
        }
        log_info("  the image's own repositories: %zu file(s) of " IMAGE_REPOS_DIR, used);
        return 0;
}

int bld_rpm_sources_install(struct bld_guest *gs, struct pxf_error *err)
{
        const struct bld_package_sources *s = gs->sources;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *repos = open_memstream(&text, &len);
        int r = 0;

        if (!repos)
                abort();
        if (s->disable_image_sources)
                log_info("  the image's own repositories are not used "
                         "(--disable-base-image-rpm-repos)");
        else
                r = add_image_repos(gs, repos, err);
        for (size_t i = 0; r >= 0 && i < s->n; i++) {
                if (pxf_has_suffix(s->paths[i], ".repo"))
                        r = add_repo_file(gs, s->paths[i], i, repos, err);
                else if (bld_is_apt_source_file(s->paths[i]))
                        r = pxf_error_set(err, -EINVAL,
                                          "--rpm-source '%s' is an apt source: image '%s' (%s) "
                                          "uses %s (give a folder of .rpm files or a .repo file)",
                                          s->paths[i], gs->image, gs->distro,
                                          gs->pkg == BLD_PKG_TDNF ? "tdnf" : "dnf");
                else
                        r = add_rpm_folder(gs, s->paths[i], i, repos, err);
        }
        if (fclose(repos) != 0 && r >= 0)
                r = pxf_error_set(err, -ENOMEM, "out of memory");
        if (r >= 0)
                r = bld_guest_mkdir_p(gs, REPOS_DIR, 0755, err);
        if (r >= 0)
                r = bld_guest_write(gs, REPOS_FILE, text, len, 0644, err);
        return r;
}

void bld_rpm_sources_options(const char ***argv, size_t *n)
{
        (*argv)[(*n)++] = "--setopt=reposdir=" REPOS_DIR;
        /* The metadata of this build's repositories stays out of the image's cache (the
         * final clean would leave a folder per repository there). */
        (*argv)[(*n)++] = "--setopt=cachedir=" CACHE_DIR;
        /* A repository that cannot be read is an error, not a silent skip (dnf's default
         * on some distributions): the packages would come from elsewhere. */
        (*argv)[(*n)++] = "--setopt=skip_if_unavailable=False";
}
