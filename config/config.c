/* config: loading config and package-list files, freeing configs, image format names.
 *
 * The passes themselves live in yaml-tree.c (YAML to nodes), walk.c and schema.c (nodes to
 * structures) and validate.c (rules across sections). */
#include <errno.h>
#include <string.h>

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

/* Parses buf into a tree whose root is a mapping. */
static int load_tree(const char *name, const char *buf, size_t len, struct cfg_diags *diags,
                     struct yn **ret)
{
        struct yn *root = NULL;
        int r;

        if (len > CFG_FILE_MAX)
                return read_error(name, -EFBIG, diags);
        r = cfg_yn_parse(name, buf, len, diags, &root);
        if (r < 0)
                return r;
        if (!root || cfg_yn_is_null(root)) {
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

static int load(const char *name, const char *buf, size_t len, const char *base_dir,
                struct cfg_config **ret, struct cfg_diags *diags)
{
        _cleanup_(yn_freep) struct yn *root = NULL;
        size_t first = diags->n;
        struct cfg_config *cfg;
        struct walk w = {.file = name, .base_dir = base_dir, .diags = diags};
        int r = load_tree(name, buf, len, diags, &root);

        if (r < 0) {
                cfg_diags_sort(diags, first);
                return r;
        }
        cfg = pxf_calloc(1, sizeof(*cfg));
        cfg->path = pxf_strdup(name);
        cfg->dir = pxf_strdup(base_dir ? base_dir : ".");
        cfg->canonical = cfg_canonical_from_tree(root);
        cfg_walk_mapping(&w, root, &cfg_schema_root, cfg, "");
        cfg_validate_semantics(cfg, diags);
        cfg_diags_sort(diags, first);
        if (diags->n > first) {
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
        r = load_tree(path, buf, len, diags, &root);
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
}

struct cfg_config *cfg_free(struct cfg_config *cfg)
{
        if (!cfg)
                return NULL;
        free(cfg->path);
        free(cfg->dir);
        free(cfg->canonical);
        free(cfg->input_image_path);
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

/* ---- image formats ------------------------------------------------------------------ */

const char *cfg_image_format_to_string(enum cfg_image_format f)
{
        if (f == CFG_FORMAT_UNSET)
                return "unset";
        for (size_t i = 0; cfg_format_values[i].name; i++)
                if (cfg_format_values[i].value == (int)f)
                        return cfg_format_values[i].name;
        return "unknown";
}

int cfg_image_format_from_string(const char *s, enum cfg_image_format *ret)
{
        for (size_t i = 0; s && cfg_format_values[i].name; i++)
                if (strcmp(s, cfg_format_values[i].name) == 0) {
                        *ret = (enum cfg_image_format)cfg_format_values[i].value;
                        return 0;
                }
        return -EINVAL;
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
