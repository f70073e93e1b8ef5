/* config internals: the generic YAML node tree, diagnostics helpers, the table-driven
 * schema walker and the value checks. Nothing here is visible outside config/.
 *
 * Loading runs in three passes:
 *   1. yaml-tree.c turns the libyaml event stream into a small tree of struct yn nodes,
 *      refusing anchors, aliases, tags, duplicate keys, non-scalar keys and nesting
 *      deeper than CFG_DEPTH_MAX;
 *   2. walk.c walks that tree along the tables of schema.c, filling struct cfg_config and
 *      reporting unknown keys, wrong types, bad values and missing or conflicting fields;
 *   3. validate.c checks the rules that span several sections.
 */
#pragma once

#include <stdio.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* ---- node tree -------------------------------------------------------------------- */

enum yn_kind {
        YN_INVALID, /* stands in for a refused node (an alias); the walker skips it */
        YN_SCALAR,
        YN_SEQUENCE,
        YN_MAPPING,
};

struct yn;

struct yn_pair {
        struct yn *key; /* always a YN_SCALAR */
        struct yn *value;
};

struct yn {
        enum yn_kind kind;
        unsigned line, column; /* 1-based */
        bool plain;            /* scalar written unquoted: true, 12 and ~ keep their meaning */
        char *value;           /* scalars */
        struct yn **items;     /* sequences */
        size_t n_items, cap_items;
        struct yn_pair *pairs; /* mappings, in file order */
        size_t n_pairs, cap_pairs;
};

/* Parses buf into a tree. Returns 0 with *ret set (NULL for an empty stream), or a negative
 * errno after a diag for a problem that makes the tree unusable (syntax error, nesting too
 * deep). Problems that leave the tree usable (an alias, a duplicate key) add a diag and
 * return 0. */
int cfg_yn_parse(const char *file, const char *buf, size_t len, struct cfg_diags *diags,
                 struct yn **ret);
struct yn *cfg_yn_free(struct yn *n);

bool cfg_yn_is_null(const struct yn *n);
/* A plain scalar of decimal digits with an optional sign. */
bool cfg_yn_is_integer(const struct yn *n);
/* Whether a comes before b in the file. */
bool cfg_yn_before(const struct yn *a, const struct yn *b);
/* "a mapping", "a list", "a string", "an integer", "a boolean", "null" */
const char *cfg_yn_type_name(const struct yn *n);
/* The value of the key in a mapping, or NULL. */
const struct yn *cfg_yn_get(const struct yn *map, const char *key);
/* The key node of the pair holding key, or NULL. */
const struct yn *cfg_yn_get_key(const struct yn *map, const char *key);

/* The tree as canonical text (canonical.c); a new string. */
char *cfg_canonical_from_tree(const struct yn *root);

/* ---- diagnostics ------------------------------------------------------------------ */

void cfg_diag_add(struct cfg_diags *diags, const char *file, unsigned line, unsigned column,
                  const char *key_path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void cfg_diag_addv(struct cfg_diags *diags, const char *file, unsigned line, unsigned column,
                   const char *key_path, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));
/* Sorts diags[from..] by line and column, keeping the order of equal positions. */
void cfg_diags_sort(struct cfg_diags *diags, size_t from);
/* The same for a chain of base configs: the bases' problems first as they are, then the
 * config's own (those of top_file) by place. */
void cfg_diags_sort_chain(struct cfg_diags *diags, size_t from, const char *top_file);

/* "a.b", "b" when a is empty; a new string. */
char *cfg_path_key(const char *path, const char *key);
/* "a[3]"; a new string. */
char *cfg_path_index(const char *path, size_t i);

/* ---- walking ---------------------------------------------------------------------- */

/* State of one walk over a tree: one file of the chain of base configs. */
struct walk {
        const char *file;     /* for diags */
        const char *base_dir; /* relative paths resolve against it; NULL keeps them */
        struct cfg_diags *diags;
        /* "child.yaml:3:9" for a base config, whose file (then owned by cfg_config.files)
         * the locations it reads name; NULL for the config itself */
        const char *included_by;
        unsigned preview; /* the preview features the file lists (CFG_PREVIEW_*) */
};

/* Adds a diag located at node n. */
void cfg_walk_error(struct walk *w, const struct yn *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

enum field_kind {
        F_STRING,      /* char *; check and loc optional */
        F_PATH,        /* char *, resolved against base_dir; check and loc optional */
        F_BOOL,        /* bool */
        F_STRV,        /* char ** */
        F_PATHV,       /* char **, resolved; loc: struct cfg_loc * parallel array */
        F_CMDLINE,     /* char **, from a string or a list of strings */
        F_MODE,        /* mode_t from an octal string or integer; has */
        F_ID,          /* uint32_t 0..60000 (Image Customizer's range); has */
        F_DAYS,        /* int -1..99999; has */
        F_PORT,        /* int 1..65535 */
        F_UINT,        /* unsigned in min..max */
        F_ENUM,        /* an enum (int sized) from enum_values; loc optional */
        F_ENV,         /* char ** of NAME=value from a mapping */
        F_SECTION,     /* a mapping walked with sub into the struct at off (0: the same
                        * struct as its parent's); has optional */
        F_ARRAY,       /* a list of mappings walked with sub; count, elem_size */
        F_OPTIONS,     /* char *, "k=v k=v" from a mapping of module parameters */
        F_FLAGS,       /* unsigned, the OR of the enum values of a list of names */
        F_PREVIEW,     /* previewFeatures: read before the walk (cfg_read_preview) */
        F_BASES,       /* baseConfigs: loaded before the walk (config.c) */
        F_UNSUPPORTED, /* an Image Customizer key pxeforge does not implement; doc says why */
};

struct enum_value {
        const char *name;
        int value;
        const char *refused; /* a value of Image Customizer pxeforge refuses: why */
};

/* Checks a string value; returns NULL when fine or a new message. */
typedef char *(*value_check_fn)(const char *s);

struct schema;

/* Offsets are stored plus one so that 0 (an omitted initializer) means "none". */
#define FOFF(type, member) (offsetof(type, member) + 1)

struct field {
        const char *key;
        enum field_kind kind;
        size_t off;   /* FOFF of the value */
        size_t has;   /* FOFF of a bool set when the key is present, or 0 */
        size_t loc;   /* FOFF of a struct cfg_loc (F_PATHV: struct cfg_loc *), or 0 */
        size_t count; /* F_ARRAY: FOFF of the size_t count */
        size_t elem_size;
        const struct enum_value *enums; /* terminated by a NULL name */
        unsigned min, max;              /* F_UINT */
        const struct schema *sub;
        value_check_fn check;
        unsigned preview;     /* a CFG_PREVIEW_* the file must list to use the key, or 0 */
        const char *c_member; /* the member of the C structure, for the effect test */
        const char *doc;      /* for pxeforge.yaml(5): what the key does; why it is refused */
};

struct schema {
        const struct field *fields;
        size_t n_fields;
        const char *const *required; /* NULL-terminated, or NULL */
        const char *one_of[2];       /* exactly one of these keys must be set */
        size_t loc;                  /* FOFF of the struct cfg_loc of an array item, or 0 */
        void (*init)(void *obj);     /* array items: defaults before walking */
        /* Rules local to one mapping, run after its fields were walked. */
        void (*check)(struct walk *w, const struct yn *map, void *obj, const char *path);
};

/* Walks map (a mapping, or null for an empty one) into obj. */
void cfg_walk_mapping(struct walk *w, const struct yn *map, const struct schema *s, void *obj,
                      const char *path);
/* Makes room for extra more entries in the NULL-terminated *v; returns its length. */
size_t cfg_strv_reserve(char ***v, size_t extra);
/* Formats the allowed names of an enum: "a, b, c"; a new string. */
char *cfg_enum_names(const struct enum_value *e);

extern const struct schema cfg_schema_root;

/* Image Customizer's preview features: the bit pxeforge sets for a name it accepts, or
 * the reason it refuses the name. */
struct preview_feature {
        const char *name;
        unsigned bit;
        const char *refused;
};
extern const struct preview_feature cfg_preview_features[];
/* Reads the previewFeatures list of a file's root mapping into w->preview, reporting
 * names that are unknown or refused. */
void cfg_read_preview(struct walk *w, const struct yn *root);
/* The name of a single CFG_PREVIEW_* bit. */
const char *cfg_preview_name(unsigned bit);
extern const struct enum_value cfg_format_values[];
extern const struct schema cfg_schema_package_list;

/* An item of baseConfigs: {path: FILE}. */
struct cfg_base_ref {
        char *path;
};
extern const struct schema cfg_schema_base_config;

/* The package-list file: `packages: [...]`. */
struct cfg_package_list {
        char **packages;
};

/* ---- value checks (checks.c) ------------------------------------------------------ */

char *cfg_check_hostname(const char *s);
char *cfg_check_account_name(const char *s);
char *cfg_check_word(const char *s);
char *cfg_check_absolute(const char *s);
char *cfg_check_live_destination(const char *s);
char *cfg_check_env_name(const char *s);
char *cfg_check_url(const char *s);
char *cfg_check_file_url(const char *s);
char *cfg_check_ipv4(const char *s);
char *cfg_check_interface(const char *s);
/* A MAC address or its first octets ("52:54:00"). */
char *cfg_check_mac_pattern(const char *s);
/* What a machine group boots: a build's name, "local" or "ignore". */
char *cfg_check_boot_target(const char *s);
/* Parses an octal mode "0644", "644"; returns 0 or a new message. */
char *cfg_parse_mode(const char *s, mode_t *ret);
/* Parses a decimal integer within [min, max]; returns 0 or a new message. */
char *cfg_parse_integer(const char *s, long long min, long long max, long long *ret);

/* ---- cross-section rules (validate.c) --------------------------------------------- */

void cfg_validate_semantics(const struct cfg_config *cfg, struct cfg_diags *diags);
