/* diag: the list of problems found in a config file, and key-path helpers. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "config/config-internal.h"

void cfg_diag_addv(struct cfg_diags *diags, const char *file, unsigned line, unsigned column,
                   const char *key_path, const char *fmt, va_list ap)
{
        struct cfg_diag *d;
        char *message = NULL;
        size_t n = diags->n;

        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        if (!message) {
                fputs("pxeforge: out of memory\n", stderr);
                abort();
        }
        /* the capacity is the next power of two of n (at least 8): grow when n reaches it */
        if ((n & (n - 1)) == 0)
                diags->items =
                    pxf_reallocarray(diags->items, n < 8 ? 8 : 2 * n, sizeof(*diags->items));
        d = &diags->items[diags->n++];
        *d = (struct cfg_diag){
            .file = pxf_strdup(file ? file : ""),
            .line = line,
            .column = line ? column : 0,
            .key_path = pxf_strdup(key_path ? key_path : ""),
            .message = message,
        };
}

void cfg_diag_add(struct cfg_diags *diags, const char *file, unsigned line, unsigned column,
                  const char *key_path, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        cfg_diag_addv(diags, file, line, column, key_path, fmt, ap);
        va_end(ap);
}

struct diag_ref {
        struct cfg_diag diag;
        size_t index;
        bool top;
};

static int diag_ref_compare(const void *a, const void *b)
{
        const struct diag_ref *x = a, *y = b;

        if (x->diag.line != y->diag.line)
                return x->diag.line < y->diag.line ? -1 : 1;
        if (x->diag.column != y->diag.column)
                return x->diag.column < y->diag.column ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* The base configs' problems keep their order (each file's already sorted, bases first);
 * the config's own follow, sorted by place. */
static int chain_compare(const void *a, const void *b)
{
        const struct diag_ref *x = a, *y = b;

        if (x->top != y->top)
                return x->top ? 1 : -1;
        if (!x->top)
                return x->index < y->index ? -1 : x->index > y->index;
        return diag_ref_compare(a, b);
}

/* Sorts diags[from..] with compare; top marks the diags of top_file (NULL: none). */
static void sort_diags(struct cfg_diags *diags, size_t from, const char *top_file,
                       int (*compare)(const void *, const void *))
{
        _cleanup_free_ struct diag_ref *refs = NULL;
        size_t n;

        if (from >= diags->n)
                return;
        n = diags->n - from;
        refs = pxf_calloc(n, sizeof(*refs));
        for (size_t i = 0; i < n; i++)
                refs[i] = (struct diag_ref){diags->items[from + i], i,
                                            top_file &&
                                                strcmp(diags->items[from + i].file, top_file) == 0};
        qsort(refs, n, sizeof(*refs), compare);
        for (size_t i = 0; i < n; i++)
                diags->items[from + i] = refs[i].diag;
}

void cfg_diags_sort_chain(struct cfg_diags *diags, size_t from, const char *top_file)
{
        sort_diags(diags, from, top_file, chain_compare);
}

void cfg_diags_sort(struct cfg_diags *diags, size_t from)
{
        sort_diags(diags, from, NULL, diag_ref_compare);
}

char *cfg_diag_format(const struct cfg_diag *d)
{
        _cleanup_free_ char *where = NULL;
        const char *file = d->file ? d->file : "";
        const char *path = d->key_path ? d->key_path : "";

        if (d->line > 0)
                where = pxf_asprintf("%s:%u:%u: ", file, d->line, d->column);
        else if (file[0])
                where = pxf_asprintf("%s: ", file);
        else
                where = pxf_strdup("");
        if (path[0])
                return pxf_asprintf("%s%s: %s", where, path, d->message ? d->message : "");
        return pxf_asprintf("%s%s", where, d->message ? d->message : "");
}

void cfg_diags_clear(struct cfg_diags *diags)
{
        if (!diags)
                return;
        for (size_t i = 0; i < diags->n; i++) {
                free(diags->items[i].file);
                free(diags->items[i].key_path);
                free(diags->items[i].message);
        }
        free(diags->items);
        diags->items = NULL;
        diags->n = 0;
}

char *cfg_path_key(const char *path, const char *key)
{
        if (!path || !path[0])
                return pxf_strdup(key);
        return pxf_asprintf("%s.%s", path, key);
}

char *cfg_path_index(const char *path, size_t i)
{
        return pxf_asprintf("%s[%zu]", path ? path : "", i);
}
