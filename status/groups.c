/* Machine groups: the rules' text and the choice for one machine (groups.h). */
#include <errno.h>
#include <string.h>

#include "status/groups.h"

#define TOKENS_MAX 5

bool grp_name_valid(const char *name)
{
        size_t len = strlen(name);

        if (len == 0 || len > GRP_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (const char *p = name; *p; p++)
                if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
                    !(*p >= '0' && *p <= '9') && !strchr("-_.", *p))
                        return false;
        return true;
}

int grp_target_parse(const char *s, struct grp_target *ret)
{
        *ret = (struct grp_target){0};
        if (strcmp(s, "local") == 0)
                ret->kind = GRP_LOCAL;
        else if (strcmp(s, "ignore") == 0)
                ret->kind = GRP_IGNORE;
        else if (strncmp(s, "build:", 6) == 0 && grp_name_valid(s + 6))
                memcpy(ret->build, s + 6, strlen(s + 6) + 1);
        else
                return -EINVAL;
        return 0;
}

static int parse_arches(const char *s, unsigned *ret)
{
        char copy[128];
        char *save = NULL;

        *ret = 0;
        if (strcmp(s, "*") == 0)
                return 0;
        if (strlen(s) >= sizeof copy)
                return -EINVAL;
        strcpy(copy, s);
        for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                unsigned bit = pxf_arch_from_name(name);
                if (!bit)
                        return -EINVAL;
                *ret |= bit;
        }
        return *ret ? 0 : -EINVAL;
}

static int parse_rule(struct grp_set *set, char **tok, size_t n)
{
        struct grp_rule rule = {0};
        int len = 0;

        if (n != 5)
                return -EINVAL;
        if (strcmp(tok[1], "*") != 0 && (len = pxf_mac_parse(tok[1], rule.mac)) < 0)
                return -EINVAL;
        rule.mac_len = (unsigned)len;
        if (parse_arches(tok[2], &rule.arches) < 0 || grp_target_parse(tok[3], &rule.target) < 0)
                return -EINVAL;
        if (strcmp(tok[4], "once") == 0)
                rule.once = true;
        else if (strcmp(tok[4], "always") != 0)
                return -EINVAL;
        grp_add(set, &rule);
        return 0;
}

static int parse_token(struct grp_set *set, const char *hex)
{
        if (strlen(hex) != GRP_TOKEN_LEN)
                return -EINVAL;
        for (const char *p = hex; *p; p++)
                if (pxf_hex_digit(*p) < 0)
                        return -EINVAL;
        memcpy(set->token, hex, GRP_TOKEN_LEN + 1);
        return 0;
}

int grp_parse_line(struct grp_set *set, const char *line)
{
        char copy[256], *tok[TOKENS_MAX + 1], *save = NULL;
        size_t n = 0;

        if ((set->complete && strcmp(line, "begin") != 0) || strlen(line) >= sizeof copy)
                return -EINVAL;
        strcpy(copy, line);
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                if (n == TOKENS_MAX)
                        return -EINVAL;
                tok[n++] = t;
        }
        if (n == 1 && strcmp(tok[0], "begin") == 0) {
                grp_clear(set);
                return 0;
        }
        if (n == 1 && strcmp(tok[0], "end") == 0) {
                set->complete = true;
                return 1;
        }
        if (n == 2 && strcmp(tok[0], "default") == 0)
                return grp_target_parse(tok[1], &set->fallback);
        if (n == 2 && strcmp(tok[0], "token") == 0)
                return parse_token(set, tok[1]);
        if (n > 0 && strcmp(tok[0], "rule") == 0)
                return parse_rule(set, tok, n);
        return -EINVAL;
}

static void write_target(const struct grp_target *t, FILE *f)
{
        switch (t->kind) {
        case GRP_BUILD:
                fprintf(f, "build:%s", t->build);
                break;
        case GRP_LOCAL:
                fputs("local", f);
                break;
        case GRP_IGNORE:
                fputs("ignore", f);
                break;
        }
}

static void write_rule(const struct grp_rule *r, FILE *f)
{
        const char *sep = "";

        fputs("rule ", f);
        for (unsigned i = 0; i < r->mac_len; i++)
                fprintf(f, "%s%02x", i ? ":" : "", r->mac[i]);
        if (!r->mac_len)
                fputc('*', f);
        fputc(' ', f);
        for (unsigned i = 0; i < PXF_ARCH_COUNT; i++)
                if (r->arches & (1u << i)) {
                        fprintf(f, "%s%s", sep, pxf_arch_name(1u << i));
                        sep = ",";
                }
        if (!r->arches)
                fputc('*', f);
        fputc(' ', f);
        write_target(&r->target, f);
        fprintf(f, " %s\n", r->once ? "once" : "always");
}

void grp_write(const struct grp_set *set, FILE *f)
{
        fputs("begin\n", f);
        for (size_t i = 0; i < set->n_rules; i++)
                write_rule(&set->rules[i], f);
        fputs("default ", f);
        write_target(&set->fallback, f);
        if (set->token[0])
                fprintf(f, "\ntoken %s", set->token);
        fputs("\nend\n", f);
}

void grp_add(struct grp_set *set, const struct grp_rule *rule)
{
        set->rules = pxf_reallocarray(set->rules, set->n_rules + 1, sizeof *set->rules);
        set->rules[set->n_rules++] = *rule;
}

void grp_copy(struct grp_set *dst, const struct grp_set *src)
{
        grp_clear(dst);
        *dst = *src;
        dst->rules = src->n_rules ? pxf_reallocarray(NULL, src->n_rules, sizeof *src->rules) : NULL;
        if (src->n_rules)
                memcpy(dst->rules, src->rules, src->n_rules * sizeof *src->rules);
}

void grp_clear(struct grp_set *set)
{
        free(set->rules);
        *set = (struct grp_set){0};
}

unsigned grp_arch_of_client(const char *arch)
{
        static const struct {
                const char *name;
                unsigned bit;
        } known[] = {
            {"x86 BIOS", PXF_ARCH_BIOS},        {"x86 BIOS HTTP", PXF_ARCH_BIOS},
            {"x86-64 UEFI", PXF_ARCH_EFI_X64},  {"x86-64 UEFI HTTP", PXF_ARCH_EFI_X64_HTTP},
            {"ARM64 UEFI", PXF_ARCH_EFI_ARM64}, {"ARM64 UEFI HTTP", PXF_ARCH_EFI_ARM64_HTTP},
        };

        for (size_t i = 0; arch && i < PXF_ELEMENTSOF(known); i++)
                if (strcmp(arch, known[i].name) == 0)
                        return known[i].bit;
        return 0;
}

static bool matches(const struct grp_rule *r, const uint8_t *mac, unsigned arch)
{
        if (r->mac_len && (!mac || memcmp(r->mac, mac, r->mac_len) != 0))
                return false;
        return !r->arches || (r->arches & arch);
}

struct grp_target grp_choose(const struct grp_set *set, const uint8_t *mac, unsigned arch,
                             bool booted_once, long *ret_rule)
{
        for (size_t i = 0; i < set->n_rules; i++) {
                const struct grp_rule *r = &set->rules[i];
                if (!matches(r, mac, arch))
                        continue;
                if (ret_rule)
                        *ret_rule = (long)i;
                if (r->once && booted_once)
                        return (struct grp_target){.kind = GRP_LOCAL};
                return r->target;
        }
        if (ret_rule)
                *ret_rule = -1;
        return set->fallback;
}
