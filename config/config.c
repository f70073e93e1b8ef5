/* config: loading config and package-list files, freeing configs, image format names.
 *
 * The passes themselves live in yaml-tree.c (YAML to nodes), walk.c and schema.c (nodes to
 * structures) and validate.c (rules across sections). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "config/config-internal.h"

static void yn_freep(struct yn **n)
{
        cfg_yn_free(*n);
}

/* Reports a file that cannot be read and returns r. */
static int read_error(const char *path, int r, struct cfg_diags *diags)
{
        if (r == -EFBIG)
                cfg_diag_add(diags, path, 0, 0, "", "the file is larger than %d bytes",
                             CFG_FILE_MAX);
        else
                cfg_diag_add(diags, path, 0, 0, "", "cannot read the file: %s", strerror(-r));
        return r;
}

/* Parses buf into a tree whose root is a mapping. An empty document is an empty mapping
 * when allow_empty is set (an empty config sets nothing, as Image Customizer reads it). */
static int load_tree(const char *name, const char *buf, size_t len, bool allow_empty,
                     struct cfg_diags *diags, struct yn **ret)
{
        struct yn *root = NULL;
        int r;

        if (len > CFG_FILE_MAX)
                return read_error(name, -EFBIG, diags);
        r = cfg_yn_parse(name, buf, len, diags, &root);
        if (r < 0)
                return r;
        if ((!root || cfg_yn_is_null(root)) && allow_empty) {
                cfg_yn_free(root);
                root = pxf_calloc(1, sizeof(*root));
                *root = (struct yn){.kind = YN_MAPPING, .line = 1, .column = 1};
        } else if (!root || cfg_yn_is_null(root)) {
                cfg_diag_add(diags, name, 0, 0, "", "the document is empty");
                cfg_yn_free(root);
                return -EINVAL;
        }
        if (root->kind != YN_MAPPING) {
                if (root->kind != YN_INVALID)
                        cfg_diag_add(diags, name, root->line, root->column, "",
                                     "expected a mapping, got %s", cfg_yn_type_name(root));
                cfg_yn_free(root);
                return -EINVAL;
        }
        *ret = root;
        return 0;
}

/* The directory of path as an absolute path, so resolved paths survive a chdir. */
static char *absolute_dirname(const char *path)
{
        _cleanup_free_ char *dir = pxf_dirname(path);
        _cleanup_free_ char *cwd = NULL;
        const char *rel = dir;

        if (!dir || dir[0] == '/')
                return TAKE_PTR(dir);
        cwd = getcwd(NULL, 0);
        if (!cwd)
                return TAKE_PTR(dir);
        while (rel[0] == '.' && rel[1] == '/')
                rel += 2;
        if (strcmp(rel, ".") == 0)
                return TAKE_PTR(cwd);
        return pxf_asprintf("%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", rel);
}

/* Loading a chain of base configs into one config. */
struct chain {
        struct cfg_config *cfg;
        struct cfg_diags *diags;
        char **stack; /* real paths of the files being loaded, outermost first */
        char **names; /* the same files as messages name them */
        char **seen;  /* real paths of every file loaded */
};

static void walk_file(struct chain *c, struct walk *w, const struct yn *root);

static ssize_t strv_index(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return (ssize_t)i;
        return -1;
}

static void strv_pop(char **v)
{
        size_t n = pxf_strv_length(v);

        free(v[n - 1]);
        v[n - 1] = NULL;
}

/* "a.yaml -> b.yaml -> a.yaml": the chain from the file that is named again. */
static char *cycle_text(const struct chain *c, size_t from, const char *again)
{
        _cleanup_free_ char *text = pxf_strdup("");

        for (size_t i = from; c->names[i]; i++) {
                char *next = pxf_asprintf("%s%s -> ", text, c->names[i]);

                free(text);
                text = next;
        }
        return pxf_asprintf("%s%s", text, again);
}

/* Reads one base config (a regular file, never a FIFO or device that could block). */
static int read_base(struct walk *w, const struct yn *at, const char *path, const char *name,
                     const char *key, char **buf, size_t *len)
{
        struct stat st;
        int r = stat(path, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;

        if (r == 0)
                r = pxf_read_file(path, CFG_FILE_MAX, buf, len);
        if (r == -EINVAL)
                cfg_walk_error(w, at, key, "base config '%s' is not a regular file", name);
        else if (r == -EFBIG)
                cfg_walk_error(w, at, key, "base config '%s' is larger than %d bytes", name,
                               CFG_FILE_MAX);
        else if (r < 0)
                cfg_walk_error(w, at, key, "cannot read base config '%s': %s", name, strerror(-r));
        return r;
}

/* The base as messages name it: beside the file that includes it, as the user would. */
static char *base_name(const char *including_file, const char *written)
{
        _cleanup_free_ char *dir = pxf_dirname(including_file);

        if (written[0] == '/' || strcmp(dir, ".") == 0)
                return pxf_strdup(written);
        return pxf_asprintf("%s/%s", dir, written);
}

/* Whether the base at real may join the chain: not on it already, not seen before. */
static bool base_allowed(struct chain *c, struct walk *w, const struct yn *item, const char *key,
                         const char *real, const char *name)
{
        ssize_t on_stack = strv_index(c->stack, real);

        if (on_stack >= 0) {
                _cleanup_free_ char *cycle = cycle_text(c, (size_t)on_stack, name);

                cfg_walk_error(w, item, key, "baseConfigs form a cycle: %s", cycle);
                return false;
        }
        if (strv_index(c->seen, real) >= 0) {
                cfg_walk_error(w, item, key,
                               "base config '%s' is included twice (each file may appear once "
                               "in the chain)",
                               name);
                return false;
        }
        return true;
}

/* Loads the base config at item (a {path: FILE} mapping) of the file w walks. */
static void load_base(struct chain *c, struct walk *w, const struct yn *item, const char *key)
{
        struct cfg_base_ref ref = {0};
        _cleanup_free_ char *resolved = NULL, *real = NULL, *name = NULL, *dir = NULL;
        _cleanup_free_ char *included_by = NULL, *buf = NULL;
        _cleanup_(yn_freep) struct yn *root = NULL;
        size_t len = 0, n;
        struct walk base;

        cfg_walk_mapping(w, item, &cfg_schema_base_config, &ref, key);
        resolved = ref.path;
        if (!resolved)
                return;
        name = base_name(w->file, cfg_yn_get(item, "path")->value);
        if (read_base(w, item, resolved, name, key, &buf, &len) < 0)
                return;
        real = realpath(resolved, NULL);
        if (!real)
                real = pxf_strdup(resolved);
        if (!base_allowed(c, w, item, key, real, name))
                return;
        if (load_tree(name, buf, len, true, c->diags, &root) < 0)
                return;
        included_by = pxf_asprintf("%s:%u:%u", w->file, item->line, item->column);
        dir = pxf_dirname(resolved);
        base = (struct walk){
            .file = name,
            .base_dir = dir,
            .diags = c->diags,
            .included_by = included_by,
        };
        pxf_strv_push(&c->stack, real);
        pxf_strv_push(&c->names, name);
        pxf_strv_push(&c->seen, real);
        walk_file(c, &base, root);
        strv_pop(c->stack);
        strv_pop(c->names);
        /* after its own bases: the files in the order they apply; the config keeps the
         * string, which the locations read from this file point to */
        n = cfg_strv_reserve(&c->cfg->files, 1);
        c->cfg->files[n] = TAKE_PTR(name);
        c->cfg->files[n + 1] = NULL;
}

static void load_bases(struct chain *c, struct walk *w, const struct yn *root)
{
        const struct yn *bases = cfg_yn_get(root, "baseConfigs");

        /* without the preview feature the walk refuses the key */
        if (!bases || !(w->preview & CFG_PREVIEW_BASE_CONFIGS))
                return;
        if (bases->kind != YN_SEQUENCE) {
                if (!cfg_yn_is_null(bases) && bases->kind != YN_INVALID)
                        cfg_walk_error(w, bases, "baseConfigs", "expected a list, got %s",
                                       cfg_yn_type_name(bases));
                return;
        }
        for (size_t i = 0; i < bases->n_items; i++) {
                _cleanup_free_ char *key = cfg_path_index("baseConfigs", i);

                if (bases->items[i]->kind == YN_MAPPING)
                        load_base(c, w, bases->items[i], key);
                else if (bases->items[i]->kind != YN_INVALID)
                        cfg_walk_error(w, bases->items[i], key, "expected a mapping, got %s",
                                       cfg_yn_type_name(bases->items[i]));
        }
}

/* Appends the file's canonical text to the config's, so the cache key covers the chain;
 * with base configs each file's part starts with a line "#base=NAME", or "#config" for
 * the config itself (a config without bases has no such line). */
static void add_canonical(struct cfg_config *cfg, const struct yn *root, const struct walk *w)
{
        _cleanup_free_ char *text = cfg_canonical_from_tree(root);
        _cleanup_free_ char *header = w->included_by ? pxf_asprintf("#base=%s\n", w->file)
                                      : cfg->files   ? pxf_strdup("#config\n")
                                                     : pxf_strdup("");
        char *joined = pxf_asprintf("%s%s%s", cfg->canonical ? cfg->canonical : "", header, text);

        free(cfg->canonical);
        cfg->canonical = joined;
}

/* A file of the chain: its bases first, then its own keys over theirs. Each file's
 * problems are sorted by place among themselves. */
static void walk_file(struct chain *c, struct walk *w, const struct yn *root)
{
        size_t first;

        cfg_read_preview(w, root);
        c->cfg->preview_features |= w->preview;
        load_bases(c, w, root);
        first = c->diags->n;
        add_canonical(c->cfg, root, w);
        cfg_walk_mapping(w, root, &cfg_schema_root, c->cfg, "");
        cfg_diags_sort(c->diags, first);
}

static int load(const char *name, const char *buf, size_t len, const char *base_dir,
                struct cfg_config **ret, struct cfg_diags *diags)
{
        _cleanup_(yn_freep) struct yn *root = NULL;
        size_t start = diags->n;
        struct cfg_config *cfg;
        struct walk w = {.file = name, .base_dir = base_dir, .diags = diags};
        struct chain c = {.diags = diags};
        char *real;
        int r = load_tree(name, buf, len, true, diags, &root);

        if (r < 0) {
                cfg_diags_sort(diags, start);
                return r;
        }
        cfg = pxf_calloc(1, sizeof(*cfg));
        cfg->path = pxf_strdup(name);
        cfg->dir = pxf_strdup(base_dir ? base_dir : ".");
        c.cfg = cfg;
        real = realpath(name, NULL);
        if (real) {
                pxf_strv_push(&c.stack, real);
                pxf_strv_push(&c.names, name);
                pxf_strv_push(&c.seen, real);
                free(real);
        }
        walk_file(&c, &w, root);
        pxf_strv_free(c.stack);
        pxf_strv_free(c.names);
        pxf_strv_free(c.seen);
        cfg_validate_semantics(cfg, diags);
        cfg_diags_sort_chain(diags, start, name);
        if (diags->n > start) {
                cfg_free(cfg);
                return -EINVAL;
        }
        *ret = cfg;
        return 0;
}

int cfg_load_buffer(const char *name, const char *buf, size_t len, const char *base_dir,
                    struct cfg_config **ret, struct cfg_diags *diags)
{
        struct cfg_diags local = {0};
        int r = load(name ? name : "<buffer>", buf, len, base_dir, ret, diags ? diags : &local);

        cfg_diags_clear(&local);
        return r;
}

int cfg_load_file(const char *path, struct cfg_config **ret, struct cfg_diags *diags)
{
        struct cfg_diags local = {0};
        struct cfg_diags *d = diags ? diags : &local;
        _cleanup_free_ char *buf = NULL, *dir = NULL;
        size_t len = 0;
        int r = pxf_read_file(path, CFG_FILE_MAX, &buf, &len);

        if (r < 0) {
                read_error(path, r, d);
        } else {
                dir = absolute_dirname(path);
                r = load(path, buf, len, dir, ret, d);
        }
        cfg_diags_clear(&local);
        return r;
}

/* Appends the strings of from to *list, taking them, and frees the vector from. */
static void strv_move(char ***list, char **from)
{
        size_t n = pxf_strv_length(from);
        size_t len;

        if (n == 0) {
                free(from);
                return;
        }
        len = cfg_strv_reserve(list, n);
        memcpy(*list + len, from, (n + 1) * sizeof(char *));
        free(from);
}

static int load_package_list(const char *path, char ***list, struct cfg_diags *diags)
{
        _cleanup_(yn_freep) struct yn *root = NULL;
        _cleanup_free_ char *buf = NULL;
        struct cfg_package_list pl = {0};
        struct walk w = {.file = path, .diags = diags};
        size_t first = diags->n, len = 0;
        int r = pxf_read_file(path, CFG_FILE_MAX, &buf, &len);

        if (r < 0)
                return read_error(path, r, diags);
        r = load_tree(path, buf, len, false, diags, &root);
        if (r >= 0)
                cfg_walk_mapping(&w, root, &cfg_schema_package_list, &pl, "");
        cfg_diags_sort(diags, first);
        if (r >= 0 && diags->n > first)
                r = -EINVAL;
        if (r >= 0)
                strv_move(list, TAKE_PTR(pl.packages));
        pxf_strv_free(pl.packages);
        return r;
}

int cfg_load_package_list(const char *path, char ***list, struct cfg_diags *diags)
{
        struct cfg_diags local = {0};
        int r = load_package_list(path, list, diags ? diags : &local);

        cfg_diags_clear(&local);
        return r;
}

/* ---- freeing ------------------------------------------------------------------------ */

static void free_files(struct cfg_file *files, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(files[i].source);
                free(files[i].content);
                free(files[i].destination);
        }
        free(files);
}

static void free_dirs(struct cfg_dir *dirs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(dirs[i].source);
                free(dirs[i].destination);
        }
        free(dirs);
}

static void free_users(struct cfg_user *users, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct cfg_user *u = &users[i];

                free(u->name);
                free(u->password.value);
                pxf_strv_free(u->ssh_public_keys);
                pxf_strv_free(u->ssh_public_key_paths);
                free(u->ssh_public_key_path_locs);
                free(u->primary_group);
                pxf_strv_free(u->secondary_groups);
                free(u->startup_command);
                free(u->home_directory);
        }
        free(users);
}

static void free_groups(struct cfg_group *groups, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(groups[i].name);
        free(groups);
}

static void free_modules(struct cfg_module *modules, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(modules[i].name);
                free(modules[i].options);
        }
        free(modules);
}

static void free_scripts(struct cfg_script *scripts, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct cfg_script *s = &scripts[i];

                free(s->path);
                free(s->content);
                free(s->interpreter);
                pxf_strv_free(s->arguments);
                pxf_strv_free(s->environment);
                free(s->name);
        }
        free(scripts);
}

static void free_packages(struct cfg_packages *p)
{
        pxf_strv_free(p->install);
        pxf_strv_free(p->remove);
        pxf_strv_free(p->update);
        pxf_strv_free(p->install_lists);
        pxf_strv_free(p->remove_lists);
        pxf_strv_free(p->update_lists);
        free(p->install_lists_locs);
        free(p->remove_lists_locs);
        free(p->update_lists_locs);
}

static void free_os(struct cfg_os *os)
{
        free(os->hostname);
        free_packages(&os->packages);
        free_files(os->additional_files, os->n_additional_files);
        free_dirs(os->additional_dirs, os->n_additional_dirs);
        free_users(os->users, os->n_users);
        free_groups(os->groups, os->n_groups);
        pxf_strv_free(os->services_enable);
        pxf_strv_free(os->services_disable);
        free_modules(os->modules, os->n_modules);
        pxf_strv_free(os->extra_command_line);
}

static void free_live(struct cfg_live *live)
{
        pxf_strv_free(live->extra_command_line);
        free_files(live->additional_files, live->n_additional_files);
}

static void free_server(struct cfg_server *s)
{
        free(s->interface);
        free(s->address);
        free(s->range_start);
        free(s->range_end);
        free(s->netmask);
        free(s->router);
        free(s->user);
        free(s->state_dir);
        free(s->machines.default_boot);
        for (size_t i = 0; i < s->machines.n_groups; i++) {
                pxf_strv_free(s->machines.groups[i].macs);
                free(s->machines.groups[i].boot);
        }
        free(s->machines.groups);
}

struct cfg_config *cfg_free(struct cfg_config *cfg)
{
        if (!cfg)
                return NULL;
        free(cfg->path);
        free(cfg->dir);
        free(cfg->canonical);
        pxf_strv_free(cfg->files);
        free(cfg->input_image_path);
        free(cfg->artifacts_path);
        free(cfg->selinux_policy_path);
        free_os(&cfg->os);
        free_scripts(cfg->post_customization, cfg->n_post_customization);
        free_scripts(cfg->finalize_customization, cfg->n_finalize_customization);
        free_live(&cfg->iso);
        free_live(&cfg->pxe.live);
        free_server(&cfg->server);
        free(cfg->pxe.bootstrap_base_url);
        free(cfg->pxe.bootstrap_file_url);
        free(cfg->output_image_path);
        free(cfg);
        return NULL;
}

const char *cfg_loc_file(const struct cfg_config *cfg, struct cfg_loc loc)
{
        return loc.file ? loc.file : cfg->path;
}

/* ---- image formats ------------------------------------------------------------------ */

const char *cfg_image_format_to_string(enum cfg_image_format f)
{
        if (f == CFG_FORMAT_UNSET)
                return "unset";
        for (size_t i = 0; cfg_format_values[i].name; i++)
                if (cfg_format_values[i].value == (int)f && !cfg_format_values[i].refused)
                        return cfg_format_values[i].name;
        return "unknown";
}

int cfg_image_format_from_string(const char *s, enum cfg_image_format *ret)
{
        for (size_t i = 0; s && cfg_format_values[i].name; i++)
                if (strcmp(s, cfg_format_values[i].name) == 0) {
                        if (cfg_format_values[i].refused)
                                return -EOPNOTSUPP;
                        *ret = (enum cfg_image_format)cfg_format_values[i].value;
                        return 0;
                }
        return -EINVAL;
}

const char *cfg_image_format_refusal(const char *s)
{
        for (size_t i = 0; s && cfg_format_values[i].name; i++)
                if (strcmp(s, cfg_format_values[i].name) == 0)
                        return cfg_format_values[i].refused;
        return NULL;
}

bool cfg_image_format_is_disk(enum cfg_image_format f)
{
        switch (f) {
        case CFG_FORMAT_RAW:
        case CFG_FORMAT_QCOW2:
        case CFG_FORMAT_VHD:
        case CFG_FORMAT_VHD_FIXED:
        case CFG_FORMAT_VHDX:
                return true;
        default:
                return false;
        }
}
