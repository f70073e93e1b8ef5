/* The image history (os.imageHistory): a record of this build appended to
 * /usr/share/image-customizer/history.json, the JSON list the reference tool keeps there,
 * so an image customized by both tools has one history. Each record holds the time, the
 * tool and its version, a new random ID of the image, the config (each value with its key
 * path, SSH keys and passwords redacted) and the SHA-256 of every host file it names. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "builder/builder-internal.h"

#define HISTORY_DIR  "/usr/share/image-customizer"
#define HISTORY_FILE HISTORY_DIR "/history.json"
#define HISTORY_MAX  (16u << 20)

/* Key paths whose values stay out of the record, as the reference tool redacts them. */
static bool redacted(const char *key)
{
        return strstr(key, ".sshPublicKeys[") || strstr(key, ".password.value");
}

/* One canonical line "PATH:p=VALUE" (cfg_canonical_text) as a JSON member. */
static void put_config_line(FILE *f, const char *line, size_t len, bool *first)
{
        const char *eq = memchr(line, '=', len);
        const char *colon = eq ? memrchr(line, ':', (size_t)(eq - line)) : NULL;
        _cleanup_free_ char *key = NULL, *value = NULL;

        if (!eq)
                return;
        key = pxf_asprintf("%.*s", (int)((colon ? colon : eq) - line), line);
        value = pxf_asprintf("%.*s", (int)(len - (size_t)(eq + 1 - line)), eq + 1);
        fputs(*first ? "\n      " : ",\n      ", f);
        *first = false;
        pxf_json_string(f, key);
        fputs(": ", f);
        pxf_json_string(f, redacted(key) ? "[redacted]" : value);
}

/* The config as a list of objects, one per file of its chain of base configs (bases
 * first; the canonical text marks where each file's part begins). */
static void put_config(FILE *f, const struct cfg_config *cfg)
{
        bool first = true, open = false;

        fputs("  \"config\": [", f);
        for (const char *line = cfg->canonical; line && *line;) {
                size_t len = strcspn(line, "\n");

                if (line[0] == '#' || !open) {
                        const char *file = strncmp(line, "#base=", 6) == 0 ? line + 6 : NULL;
                        _cleanup_free_ char *name =
                            file ? pxf_asprintf("%.*s", (int)(len - 6), file) : NULL;

                        fputs(open ? "\n    }}," : "", f);
                        fputs("\n    {\"file\": ", f);
                        pxf_json_string(f, name ? name : cfg->path);
                        fputs(", \"values\": {", f);
                        open = true;
                        first = true;
                }
                if (line[0] != '#')
                        put_config_line(f, line, len, &first);
                line += len + (line[len] == '\n');
        }
        fputs(open ? "\n    }}\n  ]" : "]", f);
}

struct file_sums {
        FILE *f;
        bool first;
};

static void put_file_sum(const char *path, bool is_dir, struct cfg_loc loc, const char *key_path,
                         void *userdata)
{
        struct file_sums *s = userdata;
        char hex[CACHE_KEY_HEX + 1];

        (void)loc;
        if (is_dir || cache_file_sha256(path, hex) < 0)
                return;
        fputs(s->first ? "\n    " : ",\n    ", s->f);
        s->first = false;
        pxf_json_string(s->f, key_path);
        fprintf(s->f, ": \"%s\"", hex);
}

/* A version 4 UUID from the kernel's random numbers. */
static void new_uuid(char out[37])
{
        unsigned char b[16] = {0};

        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
                abort(); /* the kernel's pool never runs dry after boot */
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                 b[13], b[14], b[15]);
}

char *bld_history_entry(const struct cfg_config *cfg, time_t now)
{
        struct file_sums sums = {.first = true};
        char *text = NULL, uuid[37], stamp[32];
        size_t len = 0;
        struct tm tm;

        sums.f = open_memstream(&text, &len);
        if (!sums.f)
                abort();
        new_uuid(uuid);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        fprintf(sums.f,
                "{\n  \"timestamp\": \"%s\",\n  \"toolVersion\": \"pxeforge %s\",\n"
                "  \"imageUuid\": \"%s\",\n",
                stamp, PXF_VERSION, uuid);
        put_config(sums.f, cfg);
        fputs(",\n  \"fileSha256\": {", sums.f);
        cfg_for_each_host_path(cfg, put_file_sum, &sums);
        fputs("\n  }\n}", sums.f);
        if (fclose(sums.f) != 0)
                abort();
        return text;
}

/* The list with entry appended: a new list, or the old one without its closing bracket. */
int bld_history_append(const char *old, const char *entry, char **ret)
{
        size_t end = old ? strlen(old) : 0;
        size_t start = old ? strspn(old, " \t\r\n") : 0;

        while (end > start && strchr(" \t\r\n", old[end - 1]))
                end--;
        if (end == start) {
                *ret = pxf_asprintf("[\n%s\n]\n", entry);
                return 0;
        }
        if (old[start] != '[' || old[end - 1] != ']')
                return -EINVAL;
        end--; /* the list's ']' */
        while (end > start + 1 && strchr(" \t\r\n", old[end - 1]))
                end--;
        *ret = pxf_asprintf("%.*s%s\n%s\n]\n", (int)end, old, end > start + 1 ? "," : "", entry);
        return 0;
}

static int history_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        _cleanup_free_ char *old = NULL, *entry = bld_history_entry(cfg, time(NULL));
        _cleanup_free_ char *list = NULL;
        int r = bld_guest_read(gs, HISTORY_FILE, HISTORY_MAX, &old, err);

        if (r < 0 && r != -ENOENT)
                return pxf_error_prefix(err, "os.imageHistory");
        if (bld_history_append(old, entry, &list) < 0)
                return pxf_error_set(err, -EINVAL,
                                     "os.imageHistory: %s in the image is not a JSON list; "
                                     "move it away or set imageHistory: none",
                                     HISTORY_FILE);
        r = bld_guest_mkdir_p(gs, HISTORY_DIR, 0755, err);
        if (r >= 0)
                r = bld_guest_write(gs, HISTORY_FILE, list, strlen(list), 0644, err);
        return r;
}

static bool history_wanted(const struct cfg_config *cfg)
{
        return cfg->os.image_history == CFG_IMAGE_HISTORY_WRITE;
}

const struct bld_step bld_step_history = {"image history", history_wanted, history_apply};
