/* canonical: the config as text that changes exactly when its meaning may change, for
 * build cache keys: comments, blank lines, indentation and quoting style do not count;
 * every scalar with its key path does, and whether it was written plain (so `true` and
 * "true" stay apart). One line per scalar, "PATH:p=VALUE" or "PATH:q=VALUE", with '\'
 * and line breaks escaped; an empty list or mapping is "PATH=[]" or "PATH={}". */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "config/config-internal.h"

static void put_escaped(FILE *f, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        }
}

static void emit(FILE *f, const struct yn *n, const char *path)
{
        switch (n ? n->kind : YN_INVALID) {
        case YN_SCALAR:
                fprintf(f, "%s:%c=", path, n->plain ? 'p' : 'q');
                put_escaped(f, n->value ? n->value : "");
                fputc('\n', f);
                break;
        case YN_SEQUENCE:
                if (n->n_items == 0)
                        fprintf(f, "%s=[]\n", path);
                for (size_t i = 0; i < n->n_items; i++) {
                        _cleanup_free_ char *p = pxf_asprintf("%s[%zu]", path, i);
                        emit(f, n->items[i], p);
                }
                break;
        case YN_MAPPING:
                if (n->n_pairs == 0)
                        fprintf(f, "%s={}\n", path);
                for (size_t i = 0; i < n->n_pairs; i++) {
                        _cleanup_free_ char *p = cfg_path_key(path, n->pairs[i].key->value);
                        emit(f, n->pairs[i].value, p);
                }
                break;
        case YN_INVALID:
                break;
        }
}

char *cfg_canonical_from_tree(const struct yn *root)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        if (!f)
                abort();
        emit(f, root, "");
        if (fclose(f) != 0)
                abort();
        return text;
}

/* Whether the line's top-level key is one of skip. */
static bool skipped(const char *line, const char *const *skip)
{
        size_t key_len = strcspn(line, ".[:=");

        for (size_t i = 0; skip && skip[i]; i++)
                if (strlen(skip[i]) == key_len && strncmp(line, skip[i], key_len) == 0)
                        return true;
        return false;
}

char *cfg_canonical_text(const struct cfg_config *cfg, const char *const *skip_sections)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        const char *line = cfg->canonical ? cfg->canonical : "";

        if (!f)
                abort();
        while (*line) {
                size_t n = strcspn(line, "\n");
                if (!skipped(line, skip_sections))
                        fprintf(f, "%.*s\n", (int)n, line);
                line += n + (line[n] == '\n');
        }
        if (fclose(f) != 0)
                abort();
        return text;
}
