/* Groups and users, with the image's own shadow tools (groupadd, useradd, usermod, chage)
 * so the image's login.defs and nsswitch rules apply. Passwords given in clear text are
 * hashed on the host (SHA-512 crypt, understood by every supported distribution) and
 * never written to the image. */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "builder/builder-internal.h"

#define DB_FILE_MAX       (16u * 1024 * 1024)
#define PASSWORD_FILE_MAX 4096
#define KEY_FILE_MAX      (256u * 1024)

struct passwd_entry {
        uid_t uid;
        gid_t gid;
        char home[1024];
};

/* Finds `name:` at the start of a line of a colon-separated database; returns the line's
 * fields split in place into fields[] (at most max), or 0 when absent. */
static size_t find_record(char *db, const char *name, char **fields, size_t max)
{
        size_t nlen = strlen(name), n = 0;

        for (char *line = db; line && *line;) {
                char *next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strncmp(line, name, nlen) == 0 && line[nlen] == ':') {
                        for (char *f = line; f && n < max; n++) {
                                fields[n] = f;
                                f = strchr(f, ':');
                                if (f)
                                        *f++ = '\0';
                        }
                        return n;
                }
                line = next;
        }
        return 0;
}

static int parse_id(const char *s, uint32_t *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int lookup_group(struct bld_guest *gs, const char *name, bool *found, gid_t *gid,
                        struct pxf_error *err)
{
        _cleanup_free_ char *db = NULL;
        char *f[4];
        int r = bld_guest_read(gs, "/etc/group", DB_FILE_MAX, &db, err);

        if (r < 0)
                return r == -ENOENT ? pxf_error_set(err, r, "the image has no /etc/group") : r;
        *found = find_record(db, name, f, 4) >= 3 && parse_id(f[2], gid) == 0;
        return 0;
}

static int lookup_user(struct bld_guest *gs, const char *name, bool *found, struct passwd_entry *pw,
                       struct pxf_error *err)
{
        _cleanup_free_ char *db = NULL;
        char *f[7];
        int r = bld_guest_read(gs, "/etc/passwd", DB_FILE_MAX, &db, err);

        if (r < 0)
                return r == -ENOENT ? pxf_error_set(err, r, "the image has no /etc/passwd") : r;
        *found = find_record(db, name, f, 7) == 7 && parse_id(f[2], &pw->uid) == 0 &&
                 parse_id(f[3], &pw->gid) == 0;
        if (*found)
                (void)snprintf(pw->home, sizeof pw->home, "%s", f[5]);
        return 0;
}

static int apply_group(struct bld_guest *gs, const struct cfg_group *grp, struct pxf_error *err)
{
        _cleanup_free_ char *gid = NULL;
        bool found = false;
        gid_t have = 0;
        int r = lookup_group(gs, grp->name, &found, &have, err);

        if (r < 0)
                return r;
        if (found && grp->has_gid && have != grp->gid)
                return pxf_error_set(err, -EEXIST,
                                     "group '%s' already exists in the image with gid %u, "
                                     "not %u",
                                     grp->name, (unsigned)have, (unsigned)grp->gid);
        if (found)
                return 0;
        if (grp->has_gid) {
                gid = pxf_asprintf("%u", (unsigned)grp->gid);
                return bld_guest_run(gs, (const char *[]){"groupadd", "-g", gid, grp->name, NULL},
                                     err);
        }
        return bld_guest_run(gs, (const char *[]){"groupadd", grp->name, NULL}, err);
}

static int groups_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct cfg_os *os = &cfg->os;
        for (size_t i = 0; i < os->n_groups; i++) {
                int r = apply_group(gs, &os->groups[i], err);
                if (r < 0)
                        return pxf_error_prefix(err, "os.groups[%zu] '%s'", i, os->groups[i].name);
        }
        return 0;
}

/* useradd for a new account, usermod for an existing one; the same options apply. */
static int create_or_modify(struct bld_guest *gs, const struct cfg_user *u, bool exists,
                            struct pxf_error *err)
{
        _cleanup_free_ char *uid = NULL, *groups = NULL;
        const char *argv[16];
        size_t n = 0;

        argv[n++] = exists ? "usermod" : "useradd";
        if (!exists)
                argv[n++] = "-m";
        if (u->has_uid) {
                uid = pxf_asprintf("%u", (unsigned)u->uid);
                argv[n++] = "-u", argv[n++] = uid;
        }
        if (u->primary_group)
                argv[n++] = "-g", argv[n++] = u->primary_group;
        if (u->secondary_groups) {
                groups = pxf_strv_join(u->secondary_groups, ",");
                argv[n++] = "-G", argv[n++] = groups;
        }
        if (u->home_directory)
                argv[n++] = "-d", argv[n++] = u->home_directory;
        if (u->startup_command)
                argv[n++] = "-s", argv[n++] = u->startup_command;
        if (exists && n == 1)
                return 0;
        argv[n++] = u->name;
        argv[n] = NULL;
        return bld_guest_run(gs, argv, err);
}

static int read_secret_file(const char *path, char **ret, struct pxf_error *err)
{
        size_t len;
        int r = pxf_read_file(path, PASSWORD_FILE_MAX, ret, &len);

        if (r < 0)
                return pxf_error_set(err, r, "cannot read password file '%s': %s", path,
                                     strerror(-r));
        (*ret)[strcspn(*ret, "\r\n")] = '\0';
        return 0;
}

static int hash_password(const char *clear, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *salt = crypt_gensalt_ra("$6$", 0, NULL, 0);
        _cleanup_free_ struct crypt_data *cd = pxf_calloc(1, sizeof *cd);
        const char *h;

        if (!salt)
                return pxf_error_set(err, -errno, "cannot make a password salt: %m");
        h = crypt_r(clear, salt, cd);
        if (!h || h[0] == '*')
                return pxf_error_set(err, -EINVAL, "cannot hash the password");
        *ret = pxf_strdup(h);
        return 0;
}

static int password_hash(const struct cfg_password *pw, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *text = NULL;
        int r = 0;

        switch (pw->type) {
        case CFG_PASSWORD_PLAIN_TEXT:
                return hash_password(pw->value, ret, err);
        case CFG_PASSWORD_HASHED:
                *ret = pxf_strdup(pw->value);
                return 0;
        case CFG_PASSWORD_PLAIN_TEXT_FILE:
                r = read_secret_file(pw->value, &text, err);
                return r < 0 ? r : hash_password(text, ret, err);
        case CFG_PASSWORD_HASHED_FILE:
                r = read_secret_file(pw->value, &text, err);
                if (r >= 0)
                        *ret = TAKE_PTR(text);
                return r;
        case CFG_PASSWORD_LOCKED:
                break;
        }
        *ret = NULL;
        return 0;
}

static int apply_password(struct bld_guest *gs, const struct cfg_user *u, struct pxf_error *err)
{
        _cleanup_free_ char *hash = NULL;
        int r;

        if (!u->has_password)
                return 0;
        if (u->password.type == CFG_PASSWORD_LOCKED)
                return bld_guest_run(gs, (const char *[]){"usermod", "-L", u->name, NULL}, err);
        r = password_hash(&u->password, &hash, err);
        if (r < 0)
                return r;
        return bld_guest_run(gs, (const char *[]){"usermod", "-p", hash, u->name, NULL}, err);
}

static int apply_expiry(struct bld_guest *gs, const struct cfg_user *u, struct pxf_error *err)
{
        _cleanup_free_ char *days = NULL;

        if (!u->has_password_expires_days)
                return 0;
        days = pxf_asprintf("%d", u->password_expires_days);
        return bld_guest_run(gs, (const char *[]){"chage", "-M", days, u->name, NULL}, err);
}

static void append_key(char **keys, const char *key)
{
        size_t len = strlen(key);
        char *old = *keys;

        while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r'))
                len--;
        if (len == 0)
                return;
        *keys = pxf_asprintf("%s%.*s\n", old ? old : "", (int)len, key);
        free(old);
}

static int collect_keys(const struct cfg_user *u, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *keys = NULL;

        for (size_t i = 0; u->ssh_public_keys && u->ssh_public_keys[i]; i++)
                append_key(&keys, u->ssh_public_keys[i]);
        for (size_t i = 0; u->ssh_public_key_paths && u->ssh_public_key_paths[i]; i++) {
                _cleanup_free_ char *text = NULL;
                const char *path = u->ssh_public_key_paths[i];
                int r = pxf_read_file(path, KEY_FILE_MAX, &text, NULL);
                if (r < 0)
                        return pxf_error_set(err, r, "cannot read ssh key file '%s': %s", path,
                                             strerror(-r));
                append_key(&keys, text);
        }
        *ret = TAKE_PTR(keys);
        return 0;
}

static int apply_ssh_keys(struct bld_guest *gs, const struct cfg_user *u,
                          const struct passwd_entry *pw, struct pxf_error *err)
{
        _cleanup_free_ char *keys = NULL, *dir = NULL, *file = NULL;
        int r = collect_keys(u, &keys, err);

        if (r < 0 || !keys)
                return r;
        dir = pxf_asprintf("%s/.ssh", pw->home);
        file = pxf_asprintf("%s/authorized_keys", dir);
        r = bld_guest_mkdir_p(gs, dir, 0700, err);
        if (r >= 0)
                r = bld_guest_write(gs, file, keys, strlen(keys), 0600, err);
        if (r >= 0)
                r = bld_guest_chown(gs, dir, pw->uid, pw->gid, err);
        if (r >= 0)
                r = bld_guest_chown(gs, file, pw->uid, pw->gid, err);
        return r;
}

static int apply_user(struct bld_guest *gs, const struct cfg_user *u, struct pxf_error *err)
{
        struct passwd_entry pw = {0};
        bool exists = false;
        int r = lookup_user(gs, u->name, &exists, &pw, err);

        if (r >= 0)
                r = create_or_modify(gs, u, exists, err);
        if (r >= 0)
                r = apply_password(gs, u, err);
        if (r >= 0)
                r = apply_expiry(gs, u, err);
        if (r >= 0)
                r = lookup_user(gs, u->name, &exists, &pw, err);
        if (r >= 0 && !exists)
                r = pxf_error_set(err, -ENOENT, "user was not created");
        if (r >= 0)
                r = apply_ssh_keys(gs, u, &pw, err);
        return r;
}

static int users_apply(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err)
{
        const struct cfg_os *os = &cfg->os;
        for (size_t i = 0; i < os->n_users; i++) {
                int r = apply_user(gs, &os->users[i], err);
                if (r < 0)
                        return pxf_error_prefix(err, "os.users[%zu] '%s'", i, os->users[i].name);
        }
        return 0;
}

static bool groups_wanted(const struct cfg_config *cfg)
{
        return cfg->os.n_groups > 0;
}

static bool users_wanted(const struct cfg_config *cfg)
{
        return cfg->os.n_users > 0;
}

const struct bld_step bld_step_groups = {"groups", groups_wanted, groups_apply};
const struct bld_step bld_step_users = {"users", users_wanted, users_apply};
