/* yaml-tree: the libyaml event stream turned into a small tree of struct yn nodes.
 *
 * Only the plain data model is accepted: anchors, aliases and tags are refused (a config
 * has no use for them and aliases make "billion laughs" inputs possible), keys must be
 * scalars, a key may appear once per mapping, nesting stops at CFG_DEPTH_MAX and a stream
 * holds at most one document. */
#include <errno.h>
#include <string.h>
#include <yaml.h>

#include "common/common.h"
#include "config/config-internal.h"

struct frame {
        struct yn *node;
};

struct builder {
        const char *file;
        struct cfg_diags *diags;
        struct frame stack[CFG_DEPTH_MAX];
        size_t depth;
        struct yn *root;
        unsigned n_documents;
        struct yn *pending_key[CFG_DEPTH_MAX]; /* per mapping frame: a key waiting for its value */
};

struct yn *cfg_yn_free(struct yn *n)
{
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_items; i++)
                cfg_yn_free(n->items[i]);
        for (size_t i = 0; i < n->n_pairs; i++) {
                cfg_yn_free(n->pairs[i].key);
                cfg_yn_free(n->pairs[i].value);
        }
        free(n->items);
        free(n->pairs);
        free(n->value);
        free(n);
        return NULL;
}

static struct yn *yn_new(enum yn_kind kind, const yaml_mark_t *mark)
{
        struct yn *n = pxf_calloc(1, sizeof(*n));

        n->kind = kind;
        n->line = (unsigned)mark->line + 1;
        n->column = (unsigned)mark->column + 1;
        return n;
}

/* The key path below the first n_frames open nodes: with n_frames == depth, the path of
 * the node attached last; with depth - 1, the path of the innermost open node. */
static char *builder_path(const struct builder *b, size_t n_frames)
{
        char *path = pxf_strdup("");

        for (size_t i = 0; i < n_frames; i++) {
                const struct yn *n = b->stack[i].node;
                char *next;

                if (n->kind == YN_SEQUENCE && n->n_items > 0)
                        next = cfg_path_index(path, n->n_items - 1);
                else if (n->kind == YN_MAPPING && !b->pending_key[i] && n->n_pairs > 0 &&
                         n->pairs[n->n_pairs - 1].key->kind == YN_SCALAR)
                        next = cfg_path_key(path, n->pairs[n->n_pairs - 1].key->value);
                else
                        continue;
                free(path);
                path = next;
        }
        return path;
}

static void builder_error(struct builder *b, size_t n_frames, const struct yn *n, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

static void builder_error(struct builder *b, size_t n_frames, const struct yn *n, const char *fmt,
                          ...)
{
        _cleanup_free_ char *path = builder_path(b, n_frames);
        va_list ap;

        va_start(ap, fmt);
        cfg_diag_addv(b->diags, b->file, n->line, n->column, path, fmt, ap);
        va_end(ap);
}

static void seq_append(struct yn *seq, struct yn *item)
{
        if (seq->n_items == seq->cap_items) {
                seq->cap_items = seq->cap_items ? 2 * seq->cap_items : 8;
                seq->items = pxf_reallocarray(seq->items, seq->cap_items, sizeof(*seq->items));
        }
        seq->items[seq->n_items++] = item;
}

static void map_append(struct yn *map, struct yn *key, struct yn *value)
{
        if (map->n_pairs == map->cap_pairs) {
                map->cap_pairs = map->cap_pairs ? 2 * map->cap_pairs : 8;
                map->pairs = pxf_reallocarray(map->pairs, map->cap_pairs, sizeof(*map->pairs));
        }
        map->pairs[map->n_pairs++] = (struct yn_pair){key, value};
}

/* Hangs a new node under the innermost open node (or makes it the root). */
static void builder_attach(struct builder *b, struct yn *n)
{
        struct yn *parent;
        struct yn **pending;

        if (b->depth == 0) {
                cfg_yn_free(b->root);
                b->root = n;
                return;
        }
        parent = b->stack[b->depth - 1].node;
        if (parent->kind == YN_SEQUENCE) {
                seq_append(parent, n);
                return;
        }
        pending = &b->pending_key[b->depth - 1];
        if (!*pending)
                *pending = n;
        else
                map_append(parent, TAKE_PTR(*pending), n);
}

struct key_ref {
        const char *key;
        size_t index;
};

static int key_ref_compare(const void *a, const void *b)
{
        const struct key_ref *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        if (c != 0)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Flags every pair whose key is not a string. */
static void mark_bad_keys(struct builder *b, const struct yn *map, bool *drop)
{
        for (size_t i = 0; i < map->n_pairs; i++) {
                const struct yn *key = map->pairs[i].key;

                if (key->kind == YN_SCALAR)
                        continue;
                drop[i] = true;
                if (key->kind != YN_INVALID)
                        builder_error(b, b->depth - 1, key, "mapping keys must be strings, got %s",
                                      cfg_yn_type_name(key));
        }
}

/* Flags every repeated key after its first occurrence; sorting keeps this O(n log n). */
static void mark_duplicates(struct builder *b, const struct yn *map, bool *drop)
{
        _cleanup_free_ struct key_ref *refs = pxf_calloc(map->n_pairs, sizeof(*refs));
        size_t n = 0;

        for (size_t i = 0; i < map->n_pairs; i++)
                if (!drop[i])
                        refs[n++] = (struct key_ref){map->pairs[i].key->value, i};
        qsort(refs, n, sizeof(*refs), key_ref_compare);
        for (size_t i = 1, first = 0; i < n; i++) {
                const struct yn *key = map->pairs[refs[i].index].key;
                _cleanup_free_ char *base = NULL, *path = NULL;

                if (strcmp(refs[i].key, refs[first].key) != 0) {
                        first = i;
                        continue;
                }
                drop[refs[i].index] = true;
                base = builder_path(b, b->depth - 1);
                path = cfg_path_key(base, key->value);
                cfg_diag_add(b->diags, b->file, key->line, key->column, path,
                             "duplicate key '%s' (first set at line %u)", key->value,
                             map->pairs[refs[first].index].key->line);
        }
}

/* Drops the pairs a closing mapping cannot keep, reporting each. */
static void map_finish(struct builder *b, struct yn *map)
{
        _cleanup_free_ bool *drop = NULL;
        size_t n = 0;

        if (map->n_pairs == 0)
                return;
        drop = pxf_calloc(map->n_pairs, sizeof(*drop));
        mark_bad_keys(b, map, drop);
        mark_duplicates(b, map, drop);
        for (size_t i = 0; i < map->n_pairs; i++) {
                if (drop[i]) {
                        cfg_yn_free(map->pairs[i].key);
                        cfg_yn_free(map->pairs[i].value);
                } else {
                        map->pairs[n++] = map->pairs[i];
                }
        }
        map->n_pairs = n;
}

/* Refuses anchors and tags on the node attached last. */
static void check_properties(struct builder *b, const struct yn *n, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
        if (anchor)
                builder_error(b, b->depth, n, "anchors are not supported");
        if (tag)
                builder_error(b, b->depth, n, "tags are not supported");
}

static void on_scalar(struct builder *b, const yaml_event_t *e)
{
        struct yn *n = yn_new(YN_SCALAR, &e->start_mark);

        n->value = pxf_strdup((const char *)e->data.scalar.value);
        n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        builder_attach(b, n);
        check_properties(b, n, e->data.scalar.anchor, e->data.scalar.tag);
}

static void on_alias(struct builder *b, const yaml_event_t *e)
{
        struct yn *n = yn_new(YN_INVALID, &e->start_mark);

        builder_attach(b, n);
        builder_error(b, b->depth, n, "aliases are not supported");
}

static int on_start(struct builder *b, enum yn_kind kind, const yaml_event_t *e,
                    const yaml_char_t *anchor, const yaml_char_t *tag)
{
        struct yn *n = yn_new(kind, &e->start_mark);

        builder_attach(b, n);
        if (b->depth == CFG_DEPTH_MAX) {
                builder_error(b, b->depth, n, "nesting deeper than %d levels is not supported",
                              CFG_DEPTH_MAX);
                return -EINVAL;
        }
        check_properties(b, n, anchor, tag);
        b->stack[b->depth].node = n;
        b->pending_key[b->depth] = NULL;
        b->depth++;
        return 0;
}

static void on_end(struct builder *b)
{
        struct yn *n;

        if (b->depth == 0)
                return;
        n = b->stack[b->depth - 1].node;
        if (n->kind == YN_MAPPING) {
                b->pending_key[b->depth - 1] = cfg_yn_free(b->pending_key[b->depth - 1]);
                map_finish(b, n);
        }
        b->depth--;
}

static int on_document_start(struct builder *b, const yaml_event_t *e)
{
        if (b->n_documents++ == 0)
                return 0;
        cfg_diag_add(b->diags, b->file, (unsigned)e->start_mark.line + 1,
                     (unsigned)e->start_mark.column + 1, "",
                     "only one YAML document is supported, found another one");
        return 1;
}

/* Returns 0 to go on, 1 to stop with a usable tree, a negative errno to stop without. */
static int on_event(struct builder *b, const yaml_event_t *e)
{
        switch (e->type) {
        case YAML_DOCUMENT_START_EVENT:
                return on_document_start(b, e);
        case YAML_SCALAR_EVENT:
                on_scalar(b, e);
                return 0;
        case YAML_ALIAS_EVENT:
                on_alias(b, e);
                return 0;
        case YAML_SEQUENCE_START_EVENT:
                return on_start(b, YN_SEQUENCE, e, e->data.sequence_start.anchor,
                                e->data.sequence_start.tag);
        case YAML_MAPPING_START_EVENT:
                return on_start(b, YN_MAPPING, e, e->data.mapping_start.anchor,
                                e->data.mapping_start.tag);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                on_end(b);
                return 0;
        case YAML_STREAM_END_EVENT:
                return 1;
        default:
                return 0;
        }
}

/* Line and column of a byte offset, for reader errors that carry no mark. */
static void offset_position(const char *buf, size_t len, size_t offset, unsigned *line,
                            unsigned *column)
{
        *line = 1;
        *column = 1;
        for (size_t i = 0; i < offset && i < len; i++) {
                if (buf[i] == '\n') {
                        (*line)++;
                        *column = 1;
                } else {
                        (*column)++;
                }
        }
}

static int syntax_error(struct builder *b, const yaml_parser_t *p, const char *buf, size_t len)
{
        const char *problem = p->problem ? p->problem : "unknown error";
        unsigned line = (unsigned)p->problem_mark.line + 1;
        unsigned column = (unsigned)p->problem_mark.column + 1;

        if (p->error == YAML_MEMORY_ERROR) {
                cfg_diag_add(b->diags, b->file, 0, 0, "", "out of memory parsing YAML");
                return -ENOMEM;
        }
        if (p->error == YAML_READER_ERROR) {
                offset_position(buf, len, p->problem_offset, &line, &column);
                cfg_diag_add(b->diags, b->file, line, column, "", "invalid input: %s", problem);
        } else if (p->context) {
                cfg_diag_add(b->diags, b->file, line, column, "",
                             "syntax error: %s (%s at line %u, column %u)", problem, p->context,
                             (unsigned)p->context_mark.line + 1,
                             (unsigned)p->context_mark.column + 1);
        } else {
                cfg_diag_add(b->diags, b->file, line, column, "", "syntax error: %s", problem);
        }
        return -EINVAL;
}

int cfg_yn_parse(const char *file, const char *buf, size_t len, struct cfg_diags *diags,
                 struct yn **ret)
{
        struct builder b = {.file = file, .diags = diags};
        yaml_parser_t parser;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""),
                                     buf ? len : 0);
        while (r == 0) {
                yaml_event_t e;

                if (!yaml_parser_parse(&parser, &e)) {
                        r = syntax_error(&b, &parser, buf, len);
                        break;
                }
                r = on_event(&b, &e);
                yaml_event_delete(&e);
        }
        yaml_parser_delete(&parser);
        for (size_t i = 0; i < b.depth; i++)
                cfg_yn_free(b.pending_key[i]);
        if (r < 0) {
                cfg_yn_free(b.root);
                return r;
        }
        *ret = b.root;
        return 0;
}

/* ---- queries ------------------------------------------------------------------------ */

bool cfg_yn_is_null(const struct yn *n)
{
        static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

        if (!n || n->kind != YN_SCALAR || !n->plain)
                return false;
        for (size_t i = 0; i < PXF_ELEMENTSOF(nulls); i++)
                if (strcmp(n->value, nulls[i]) == 0)
                        return true;
        return false;
}

bool cfg_yn_before(const struct yn *a, const struct yn *b)
{
        return a->line < b->line || (a->line == b->line && a->column < b->column);
}

static bool is_integer(const char *s)
{
        if (*s == '-' || *s == '+')
                s++;
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

bool cfg_yn_is_integer(const struct yn *n)
{
        return n && n->kind == YN_SCALAR && n->plain && is_integer(n->value);
}

const char *cfg_yn_type_name(const struct yn *n)
{
        switch (n->kind) {
        case YN_MAPPING:
                return "a mapping";
        case YN_SEQUENCE:
                return "a list";
        case YN_INVALID:
                return "an alias";
        case YN_SCALAR:
                break;
        }
        if (!n->plain)
                return "a string";
        if (cfg_yn_is_null(n))
                return "null";
        if (strcmp(n->value, "true") == 0 || strcmp(n->value, "false") == 0)
                return "a boolean";
        if (is_integer(n->value))
                return "an integer";
        return "a string";
}

const struct yn *cfg_yn_get_key(const struct yn *map, const char *key)
{
        if (!map || map->kind != YN_MAPPING)
                return NULL;
        for (size_t i = 0; i < map->n_pairs; i++)
                if (strcmp(map->pairs[i].key->value, key) == 0)
                        return map->pairs[i].key;
        return NULL;
}

const struct yn *cfg_yn_get(const struct yn *map, const char *key)
{
        if (!map || map->kind != YN_MAPPING)
                return NULL;
        for (size_t i = 0; i < map->n_pairs; i++)
                if (strcmp(map->pairs[i].key->value, key) == 0)
                        return map->pairs[i].value;
        return NULL;
}
