/* walk: fills C structures from the node tree along the tables of schema.c.
 *
 * Every field kind has one reader here. A reader that finds a problem adds a diag and
 * stores nothing (or what it could read), so walking goes on and every problem in the
 * file is reported. Everything stored belongs to the config and is released by cfg_free,
 * so nothing needs undoing on failure. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/common.h"
#include "config/config-internal.h"

void cfg_walk_error(struct walk *w, const struct yn *n, const char *path, const char *fmt, ...)
{
        struct cfg_diag *d;
        char *message;
        va_list ap;

        va_start(ap, fmt);
        cfg_diag_addv(w->diags, w->file, n->line, n->column, path, fmt, ap);
        va_end(ap);
        if (!w->included_by)
                return;
        d = &w->diags->items[w->diags->n - 1];
        message =
            pxf_asprintf("%s (in the base config included at %s)", d->message, w->included_by);
        free(d->message);
        d->message = message;
}

static void *at(void *obj, size_t foff)
{
        return foff ? (char *)obj + foff - 1 : NULL;
}

static struct cfg_loc loc_of(const struct walk *w, const struct yn *n)
{
        return (struct cfg_loc){n->line, n->column, w->included_by ? w->file : NULL};
}

static void set_loc(const struct walk *w, void *obj, size_t foff, const struct yn *n)
{
        struct cfg_loc *loc = at(obj, foff);

        if (loc)
                *loc = loc_of(w, n);
}

static void set_has(void *obj, size_t foff)
{
        bool *has = at(obj, foff);

        if (has)
                *has = true;
}

static void type_error(struct walk *w, const struct yn *n, const char *path, const char *want)
{
        cfg_walk_error(w, n, path, "expected %s, got %s", want, cfg_yn_type_name(n));
}

/* A string is any scalar but null. */
static const char *get_string(struct walk *w, const struct yn *n, const char *path)
{
        if (n->kind == YN_SCALAR && !cfg_yn_is_null(n))
                return n->value;
        if (n->kind != YN_INVALID)
                type_error(w, n, path, "a string");
        return NULL;
}

/* Reads a string, checking it and resolving it as a path when asked; a new string. */
static char *read_string(struct walk *w, const struct yn *n, const char *path, bool is_path,
                         value_check_fn check)
{
        const char *s = get_string(w, n, path);
        _cleanup_free_ char *msg = NULL;

        if (!s)
                return NULL;
        if (is_path && !s[0]) {
                cfg_walk_error(w, n, path, "the path is empty");
                return NULL;
        }
        msg = check ? check(s) : NULL;
        if (msg) {
                cfg_walk_error(w, n, path, "%s", msg);
                return NULL;
        }
        return is_path ? pxf_path_resolve(w->base_dir, s) : pxf_strdup(s);
}

static void read_string_field(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                              const char *path)
{
        char **slot = at(obj, f->off);
        char *s = read_string(w, n, path, f->kind == F_PATH, f->check);

        if (!s)
                return;
        free(*slot);
        *slot = s;
        set_loc(w, obj, f->loc, n);
}

static void read_bool(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        bool *slot = at(obj, f->off);

        if (n->kind == YN_SCALAR && n->plain && strcmp(n->value, "true") == 0)
                *slot = true;
        else if (n->kind == YN_SCALAR && n->plain && strcmp(n->value, "false") == 0)
                *slot = false;
        else {
                if (n->kind != YN_INVALID)
                        type_error(w, n, path, "a boolean");
                return;
        }
        set_loc(w, obj, f->loc, n);
}

/* The items of a list; null counts as an empty list. Returns false after a diag. */
static bool get_list(struct walk *w, const struct yn *n, const char *path, const char *want)
{
        if (n->kind == YN_SEQUENCE || cfg_yn_is_null(n))
                return true;
        if (n->kind != YN_INVALID)
                type_error(w, n, path, want);
        return false;
}

size_t cfg_strv_reserve(char ***v, size_t extra)
{
        size_t len = pxf_strv_length(*v);

        *v = pxf_reallocarray(*v, len + extra + 1, sizeof(char *));
        (*v)[len] = NULL;
        return len;
}

static void strv_append(char **v, size_t *len, char *s)
{
        v[(*len)++] = s;
        v[*len] = NULL;
}

static void read_strv(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        char ***slot = at(obj, f->off);
        struct cfg_loc **locs = at(obj, f->loc);
        bool is_path = f->kind == F_PATHV;
        size_t len;

        if (!get_list(w, n, path, "a list") || n->n_items == 0)
                return;
        len = cfg_strv_reserve(slot, n->n_items);
        if (locs)
                *locs = pxf_reallocarray(*locs, len + n->n_items, sizeof(**locs));
        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *item_path = cfg_path_index(path, i);
                char *s = read_string(w, n->items[i], item_path, is_path, f->check);

                if (!s)
                        continue;
                if (locs)
                        (*locs)[len] = loc_of(w, n->items[i]);
                strv_append(*slot, &len, s);
        }
}

/* kernelCommandLine.extraCommandLine: one string or a list of strings. */
static void read_cmdline(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                         const char *path)
{
        char ***slot = at(obj, f->off);

        if (n->kind == YN_SCALAR && !cfg_yn_is_null(n)) {
                pxf_strv_push(slot, n->value);
                return;
        }
        if (n->kind == YN_MAPPING) {
                type_error(w, n, path, "a string or a list");
                return;
        }
        read_strv(w, f, n, obj, path);
}

static void read_mode(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        _cleanup_free_ char *msg = NULL;
        const char *s = get_string(w, n, path);
        mode_t mode = 0;

        if (!s)
                return;
        msg = cfg_parse_mode(s, &mode);
        if (msg) {
                cfg_walk_error(w, n, path, "%s", msg);
                return;
        }
        *(mode_t *)at(obj, f->off) = mode;
        set_has(obj, f->has);
}

/* An integer must be written as one: a quoted "12" is a string. */
static bool read_integer(struct walk *w, const struct yn *n, const char *path, long long min,
                         long long max, long long *ret)
{
        _cleanup_free_ char *msg = NULL;

        if (n->kind == YN_INVALID)
                return false;
        if (!cfg_yn_is_integer(n)) {
                type_error(w, n, path, "an integer");
                return false;
        }
        msg = cfg_parse_integer(n->value, min, max, ret);
        if (msg)
                cfg_walk_error(w, n, path, "%s", msg);
        return !msg;
}

static void read_id(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                    const char *path)
{
        long long v;

        if (!read_integer(w, n, path, 0, 60000, &v))
                return;
        *(uint32_t *)at(obj, f->off) = (uint32_t)v;
        set_has(obj, f->has);
}

/* -1: never (chage's own range, as Image Customizer takes it). */
static void read_days(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        long long v;

        if (!read_integer(w, n, path, -1, 99999, &v))
                return;
        *(int *)at(obj, f->off) = (int)v;
        set_has(obj, f->has);
}

static void read_port(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        long long v;

        if (read_integer(w, n, path, 1, 65535, &v))
                *(int *)at(obj, f->off) = (int)v;
}

static void read_uint(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        long long v;

        if (read_integer(w, n, path, f->min, f->max, &v))
                *(unsigned *)at(obj, f->off) = (unsigned)v;
}

char *cfg_enum_names(const struct enum_value *e)
{
        char *s = pxf_strdup("");

        for (size_t i = 0; e[i].name; i++) {
                char *next;

                if (e[i].refused)
                        continue;
                next = pxf_asprintf("%s%s%s", s, s[0] ? ", " : "", e[i].name);

                free(s);
                s = next;
        }
        return s;
}

/* The entry of an enum named by n, or NULL after a diag. */
static const struct enum_value *enum_entry(struct walk *w, const struct enum_value *e,
                                           const struct yn *n, const char *path)
{
        const char *s = get_string(w, n, path);
        _cleanup_free_ char *names = NULL;

        if (!s)
                return NULL;
        for (size_t i = 0; e[i].name; i++) {
                if (strcmp(s, e[i].name) != 0)
                        continue;
                if (!e[i].refused)
                        return &e[i];
                cfg_walk_error(w, n, path, "'%s' is not supported by pxeforge: %s", s,
                               e[i].refused);
                return NULL;
        }
        names = cfg_enum_names(e);
        cfg_walk_error(w, n, path, "unknown value '%s' (expected one of: %s)", s, names);
        return NULL;
}

static void read_enum(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                      const char *path)
{
        const struct enum_value *e = enum_entry(w, f->enums, n, path);

        if (!e)
                return;
        /* every config enum is int sized (asserted in schema.c) */
        memcpy(at(obj, f->off), &e->value, sizeof(int));
        set_loc(w, obj, f->loc, n);
}

/* A list of enum names, kept as the OR of their values. */
static void read_flags(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                       const char *path)
{
        unsigned *slot = at(obj, f->off);

        if (!get_list(w, n, path, "a list"))
                return;
        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *item_path = cfg_path_index(path, i);
                const struct enum_value *e = enum_entry(w, f->enums, n->items[i], item_path);

                if (e)
                        *slot |= (unsigned)e->value;
        }
}

/* Module parameters: a mapping of name: value, kept as the "name=value ..." that a
 * modprobe.d options line takes, in file order. */
static void read_options(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                         const char *path)
{
        char **slot = at(obj, f->off);
        char *line = NULL;

        if (n->kind != YN_MAPPING) {
                if (n->kind != YN_INVALID)
                        type_error(w, n, path, "a mapping of parameter: value");
                return;
        }
        for (size_t i = 0; i < n->n_pairs; i++) {
                const struct yn *key = n->pairs[i].key, *value = n->pairs[i].value;
                _cleanup_free_ char *item_path = cfg_path_key(path, key->value);
                _cleanup_free_ char *msg = cfg_check_word(key->value);
                const char *v = get_string(w, value, item_path);
                char *next;

                if (msg)
                        cfg_walk_error(w, key, item_path, "parameter name: %s", msg);
                free(msg);
                msg = v ? cfg_check_word(v) : NULL;
                if (msg)
                        cfg_walk_error(w, value, item_path, "%s", msg);
                if (!v || msg)
                        continue;
                next = pxf_asprintf("%s%s%s=%s", line ? line : "", line ? " " : "", key->value, v);
                free(line);
                line = next;
        }
        free(*slot);
        *slot = line;
}

/* environmentVariables: NAME: value pairs, stored as "NAME=value" in file order. */
static void read_env(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                     const char *path)
{
        char ***slot = at(obj, f->off);
        size_t len;

        if (n->kind != YN_MAPPING && !cfg_yn_is_null(n)) {
                if (n->kind != YN_INVALID)
                        type_error(w, n, path, "a mapping");
                return;
        }
        if (n->n_pairs == 0)
                return;
        len = cfg_strv_reserve(slot, n->n_pairs);
        for (size_t i = 0; i < n->n_pairs; i++) {
                const struct yn *key = n->pairs[i].key;
                _cleanup_free_ char *item_path = cfg_path_key(path, key->value);
                _cleanup_free_ char *msg = cfg_check_env_name(key->value);
                const char *value = get_string(w, n->pairs[i].value, item_path);

                if (msg)
                        cfg_walk_error(w, key, item_path, "%s", msg);
                if (!msg && value)
                        strv_append(*slot, &len, pxf_asprintf("%s=%s", key->value, value));
        }
}

static void read_section(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                         const char *path)
{
        if (n->kind != YN_MAPPING && !cfg_yn_is_null(n)) {
                if (n->kind != YN_INVALID)
                        type_error(w, n, path, "a mapping");
                return;
        }
        set_has(obj, f->has);
        cfg_walk_mapping(w, n, f->sub, f->off ? at(obj, f->off) : obj, path);
}

/* A list of mappings, each walked into a new array item. */
/* A list of mappings, each walked into a new array item. The items of a later file of
 * the chain follow those of its bases. */
static void read_array(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                       const char *path)
{
        char **slot = at(obj, f->off);
        size_t *count = at(obj, f->count);
        size_t first = *count;

        if (!get_list(w, n, path, "a list") || n->n_items == 0)
                return;
        *slot = pxf_reallocarray(*slot, first + n->n_items, f->elem_size);
        memset(*slot + first * f->elem_size, 0, n->n_items * f->elem_size);
        *count = first + n->n_items;
        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *item_path = cfg_path_index(path, i);
                void *item = *slot + (first + i) * f->elem_size;
                const struct yn *m = n->items[i];

                if (f->sub->init)
                        f->sub->init(item);
                set_loc(w, item, f->sub->loc, m);
                if (m->kind == YN_MAPPING || m->kind == YN_INVALID)
                        cfg_walk_mapping(w, m, f->sub, item, item_path);
                else
                        type_error(w, m, item_path, "a mapping");
        }
}

/* previewFeatures and baseConfigs are read before the walk: the whole file depends on them. */
static void read_nothing(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                         const char *path)
{
        (void)w, (void)f, (void)n, (void)obj, (void)path;
}

typedef void (*reader_fn)(struct walk *w, const struct field *f, const struct yn *n, void *obj,
                          const char *path);

static const reader_fn readers[] = {
    [F_STRING] = read_string_field,
    [F_PATH] = read_string_field,
    [F_BOOL] = read_bool,
    [F_STRV] = read_strv,
    [F_PATHV] = read_strv,
    [F_CMDLINE] = read_cmdline,
    [F_MODE] = read_mode,
    [F_ID] = read_id,
    [F_DAYS] = read_days,
    [F_PORT] = read_port,
    [F_UINT] = read_uint,
    [F_ENUM] = read_enum,
    [F_ENV] = read_env,
    [F_SECTION] = read_section,
    [F_ARRAY] = read_array,
    [F_OPTIONS] = read_options,
    [F_FLAGS] = read_flags,
    [F_PREVIEW] = read_nothing,
    [F_BASES] = read_nothing,
};

static const struct field *find_field(const struct schema *s, const char *key)
{
        for (size_t i = 0; i < s->n_fields; i++)
                if (strcmp(s->fields[i].key, key) == 0)
                        return &s->fields[i];
        return NULL;
}

/* The keys a mapping of s may hold, "a, b, c" (those pxeforge refuses left out); new. */
static char *known_keys(const struct schema *s)
{
        char *list = pxf_strdup("");

        for (size_t i = 0; i < s->n_fields; i++) {
                char *next;

                if (s->fields[i].kind == F_UNSUPPORTED)
                        continue;
                next = pxf_asprintf("%s%s%s", list, list[0] ? ", " : "", s->fields[i].key);
                free(list);
                list = next;
        }
        return list;
}

static void walk_pair(struct walk *w, const struct yn_pair *p, const struct schema *s, void *obj,
                      const char *path)
{
        const struct field *f = find_field(s, p->key->value);
        _cleanup_free_ char *child = cfg_path_key(path, p->key->value);

        if (!f) {
                _cleanup_free_ char *known = known_keys(s);
                cfg_walk_error(w, p->key, child, "unknown key '%s' (expected one of: %s)",
                               p->key->value, known);
        } else if (f->kind == F_UNSUPPORTED)
                cfg_walk_error(w, p->key, child, "'%s' is not supported by pxeforge: %s",
                               p->key->value, f->doc);
        else if (f->preview && !(w->preview & f->preview))
                cfg_walk_error(w, p->key, child,
                               "the '%s' preview feature must be enabled to use '%s' (list it "
                               "in previewFeatures)",
                               cfg_preview_name(f->preview), child);
        else
                readers[f->kind](w, f, p->value, obj, child);
}

/* Required keys and the exactly-one-of pair of a schema. */
static void check_presence(struct walk *w, const struct yn *map, const struct schema *s,
                           const char *path)
{
        const struct yn *a, *b;

        for (size_t i = 0; s->required && s->required[i]; i++)
                if (!cfg_yn_get_key(map, s->required[i]))
                        cfg_walk_error(w, map, path, "missing required key '%s'", s->required[i]);
        if (!s->one_of[0])
                return;
        a = cfg_yn_get_key(map, s->one_of[0]);
        b = cfg_yn_get_key(map, s->one_of[1]);
        if (!a && !b)
                cfg_walk_error(w, map, path, "one of '%s' or '%s' must be set", s->one_of[0],
                               s->one_of[1]);
        if (a && b) {
                const struct yn *second = cfg_yn_before(a, b) ? b : a;
                _cleanup_free_ char *child = cfg_path_key(path, second->value);

                cfg_walk_error(w, cfg_yn_get(map, second->value), child,
                               "cannot set both '%s' and '%s'", s->one_of[0], s->one_of[1]);
        }
}

void cfg_walk_mapping(struct walk *w, const struct yn *map, const struct schema *s, void *obj,
                      const char *path)
{
        if (map->kind == YN_INVALID)
                return;
        for (size_t i = 0; i < map->n_pairs; i++)
                walk_pair(w, &map->pairs[i], s, obj, path);
        check_presence(w, map, s, path);
        if (s->check)
                s->check(w, map, obj, path);
}

void cfg_read_preview(struct walk *w, const struct yn *root)
{
        const struct yn *n = cfg_yn_get(root, "previewFeatures");

        if (!n || !get_list(w, n, "previewFeatures", "a list"))
                return;
        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *path = cfg_path_index("previewFeatures", i);
                const char *name = get_string(w, n->items[i], path);
                const struct preview_feature *p = cfg_preview_features;

                if (!name)
                        continue;
                while (p->name && strcmp(p->name, name) != 0)
                        p++;
                if (!p->name)
                        cfg_walk_error(w, n->items[i], path, "unknown preview feature '%s'", name);
                else if (p->refused)
                        cfg_walk_error(w, n->items[i], path,
                                       "preview feature '%s' is not supported by pxeforge: %s",
                                       name, p->refused);
                else
                        w->preview |= p->bit;
        }
}
