/* Per-machine views of several builds (routing.h). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pxeforge/routing.h"

enum router_loader { ROUTER_GRUB, ROUTER_IPXE };

struct router {
        struct timeline *tl;
        struct router_build *builds;
        size_t n_builds;
        struct grp_set groups;
};

struct router *router_new(struct timeline *tl, const struct router_build *builds, size_t n)
{
        struct router *r = pxf_calloc(1, sizeof *r);

        r->tl = tl;
        r->builds = pxf_reallocarray(NULL, n, sizeof *builds);
        memcpy(r->builds, builds, n * sizeof *builds);
        r->n_builds = n;
        /* until the appliance says otherwise: everybody boots the first build */
        memcpy(r->groups.fallback.build, builds[0].name, strlen(builds[0].name) + 1);
        return r;
}

struct router *router_free(struct router *r)
{
        if (r) {
                grp_clear(&r->groups);
                free(r->builds);
                free(r);
        }
        return NULL;
}

static const struct router_build *find_build(const struct router *r, const char *name)
{
        for (size_t i = 0; i < r->n_builds; i++)
                if (strcmp(r->builds[i].name, name) == 0)
                        return &r->builds[i];
        return NULL;
}

static bool target_served(const struct router *r, const struct grp_target *t)
{
        if (t->kind == GRP_BUILD && !find_build(r, t->build)) {
                log_error("routing: the machine groups name build '%s', which is not served; "
                          "keeping the groups as they were",
                          t->build);
                return false;
        }
        return true;
}

int router_set_groups(struct router *r, struct grp_set *set)
{
        bool ok = target_served(r, &set->fallback);

        for (size_t i = 0; ok && i < set->n_rules; i++)
                ok = target_served(r, &set->rules[i].target);
        if (!ok) {
                grp_clear(set);
                return -ENOENT;
        }
        grp_clear(&r->groups);
        r->groups = *set;
        *set = (struct grp_set){0};
        log_info("routing: %zu machine group rule%s, others boot %s", r->groups.n_rules,
                 r->groups.n_rules == 1 ? "" : "s",
                 r->groups.fallback.kind == GRP_BUILD   ? r->groups.fallback.build
                 : r->groups.fallback.kind == GRP_LOCAL ? "from their disks"
                                                        : "nothing (ignored)");
        return 0;
}

/* ---- reset ---------------------------------------------------------------------------- */

/* The value of key in the body's "key=value" lines, copied into buf; false if absent or
 * too long. */
static bool body_value(const char *body, size_t len, const char *key, char *buf, size_t size)
{
        size_t klen = strlen(key);

        for (const char *p = body, *end = body + len; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = (size_t)((nl ? nl : end) - p);
                if (n > 0 && p[n - 1] == '\r')
                        n--;
                if (n > klen && memcmp(p, key, klen) == 0 && p[klen] == '=' &&
                    n - klen - 1 < size) {
                        memcpy(buf, p + klen + 1, n - klen - 1);
                        buf[n - klen - 1] = '\0';
                        return true;
                }
                p = nl ? nl + 1 : end;
        }
        return false;
}

/* Compared in time independent of where they differ. */
static bool same_token(const char *a, const char *b)
{
        unsigned char diff = 0;

        for (size_t i = 0; i < GRP_TOKEN_LEN; i++)
                diff |= (unsigned char)(a[i] ^ b[i]);
        return diff == 0;
}

int router_reset(struct router *r, const char *body, size_t len, FILE *f)
{
        char mac[32], token[GRP_TOKEN_LEN + 1];
        int ret;

        if (!body_value(body, len, "mac", mac, sizeof mac) ||
            !body_value(body, len, "token", token, sizeof token) ||
            strlen(token) != GRP_TOKEN_LEN) {
                fputs("a reset is two lines, mac=MAC and token=TOKEN\n", f);
                return 400;
        }
        if (!r->groups.token[0] || !same_token(token, r->groups.token)) {
                fputs("not this appliance's token\n", f);
                return 403;
        }
        ret = tl_reset(r->tl, mac);
        if (ret == -EINVAL) {
                fputs("not a MAC address\n", f);
                return 400;
        }
        if (ret < 0) {
                fprintf(f, "no machine %s has been seen\n", mac);
                return 404;
        }
        log_info("routing: %s was reset: a boot-once machine boots from the network again", mac);
        fprintf(f, "%s was reset\n", mac);
        return 200;
}

/* ---- who asks, and what it boots ------------------------------------------------------ */

struct client {
        bool known;
        struct tl_identity id;
        char ip[PXF_ADDR_TEXT_MAX];
};

static struct grp_target choose(const struct router *r, const struct client *c)
{
        uint8_t mac[6];

        if (!c->known || pxf_mac_parse(c->id.mac, mac) != 6)
                return grp_choose(&r->groups, NULL, 0, false, NULL);
        return grp_choose(&r->groups, mac, grp_arch_of_client(c->id.arch), c->id.booted_once, NULL);
}

const char *router_describe(void *ctx, const struct tl_identity *id, char *buf, size_t size)
{
        const struct client c = {.known = true, .id = *id};
        struct grp_target t = choose(ctx, &c);
        switch (t.kind) {
        case GRP_BUILD:
                (void)snprintf(buf, size, "build %s", t.build);
                break;
        case GRP_LOCAL:
                (void)snprintf(buf, size, "local");
                break;
        case GRP_IGNORE:
                (void)snprintf(buf, size, "ignore");
                break;
        }
        return buf;
}

/* The folder files of target come from: its build's, else the first build's (the
 * loaders a machine fetches before its menu tells it more). */
static const char *folder_of(const struct router *r, const struct grp_target *t)
{
        const struct router_build *b = t->kind == GRP_BUILD ? find_build(r, t->build) : NULL;

        return b ? b->root : r->builds[0].root;
}

/* ---- menus made here ---------------------------------------------------------------- */

/* text as a file: what both servers send from, with its size and time. */
static int made_file(const char *text, struct stat *ret_st)
{
        _cleanup_close_ int fd = memfd_create("pxeforge-menu", MFD_CLOEXEC);
        int r;

        if (fd < 0)
                return -errno;
        r = pxf_write_all(fd, text, strlen(text));
        if (r < 0)
                return r;
        if (fstat(fd, ret_st) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* The plain menu's answer: ask again, by MAC. */
static int menu_by_mac(enum router_loader loader, const char *menu, struct stat *ret_st)
{
        _cleanup_free_ char *text =
            loader == ROUTER_GRUB
                ? pxf_asprintf("# Written by pxeforge: this machine's own menu, by its MAC\n"
                               "configfile " PXF_BOOT_PREFIX "${net_default_mac}/%s\n",
                               menu)
                /* hyphens: an iPXE of 2019 (Debian's) takes what comes before a URI's
                 * first ':' as its scheme, wherever it is */
                : pxf_asprintf("#!ipxe\n"
                               "# Written by pxeforge: this machine's own script, by its MAC\n"
                               "chain " PXF_BOOT_PREFIX "${netX/mac:hexhyp}/%s\n",
                               menu);

        return made_file(text, ret_st);
}

/* Where an installed system's EFI boot loader lives on its ESP, in the order tried: the
 * removable-media path the firmware itself falls back to, then the distributions' own. */
#define LOCAL_EFI_LOADERS                                                                          \
        "/EFI/BOOT/${pxf_removable} /EFI/debian/shimx64.efi /EFI/ubuntu/shimx64.efi "              \
        "/EFI/fedora/shimx64.efi /EFI/redhat/shimx64.efi /EFI/azurelinux/shimx64.efi "             \
        "/EFI/Microsoft/Boot/bootmgfw.efi"

/* local: GRUB starts the disk's own boot loader (on BIOS, the first disk's boot sector;
 * on UEFI, the first loader of LOCAL_EFI_LOADERS it finds, from its own partition as
 * root: the chainloader names the image by $root's device), as the firmware would: GRUB's
 * exit returns success, after which OVMF and other firmware show their menu rather than
 * try the next boot option. With no loader found it exits all the same. iPXE's exit
 * with an error does send the firmware on. */
static int menu_local(enum router_loader loader, const char *mac, struct stat *ret_st)
{
        _cleanup_free_ char *text =
            loader == ROUTER_GRUB
                ? pxf_asprintf(
                      "# Written by pxeforge: %s boots from its disk\n"
                      "echo 'pxeforge: %s boots from its disk'\n"
                      "if [ \"$grub_platform\" = pc ]; then\n"
                      "\tset root=(hd0)\n"
                      "\tchainloader +1\n"
                      "\tboot\n"
                      "fi\n"
                      "set pxf_removable=BOOTX64.EFI\n"
                      "if [ \"$grub_cpu\" = arm64 ]; then set pxf_removable=BOOTAA64.EFI; fi\n"
                      "for pxf_loader in " LOCAL_EFI_LOADERS "; do\n"
                      "\tif search --no-floppy --file --set=pxf_disk $pxf_loader; then\n"
                      "\t\techo \"pxeforge: starting ($pxf_disk)$pxf_loader\"\n"
                      "\t\tset root=$pxf_disk\n"
                      "\t\tchainloader $pxf_loader\n"
                      "\t\tboot\n"
                      "\tfi\n"
                      "done\n"
                      "echo 'pxeforge: no boot loader found on a disk'\n"
                      "exit 1\n",
                      mac, mac)
                : pxf_asprintf("#!ipxe\n"
                               "# Written by pxeforge: %s boots from its disk\n"
                               "echo pxeforge: %s boots from its disk\n"
                               "exit 1\n",
                               mac, mac);

        return made_file(text, ret_st);
}

/* The loader that reads path, if it is one of ROUTER_MENUS. */
static bool menu_loader(const char *path, enum router_loader *ret)
{
#define MENU_MATCH(p, loader)                                                                      \
        if (strcmp(path, p) == 0) {                                                                \
                *ret = loader;                                                                     \
                return true;                                                                       \
        }
        ROUTER_MENUS(MENU_MATCH)
#undef MENU_MATCH
        return false;
}

/* ---- opening ------------------------------------------------------------------------ */

static void log_choice(const struct client *c, const struct grp_target *t, const char *menu)
{
        log_info("routing: %s (%s) boots %s%s (asked for %s)", c->id.mac, c->ip,
                 t->kind == GRP_BUILD   ? "build "
                 : t->kind == GRP_LOCAL ? "from its disk"
                                        : "nothing",
                 t->kind == GRP_BUILD ? t->build : "", menu);
}

/* A path below PXF_BOOT_PREFIX: "MAC/rest", asked for by the loader of that machine. */
static int open_by_mac(struct router *r, struct client *c, const char *path, struct stat *ret_st)
{
        const char *slash = strchr(path, '/');
        char mac[18];
        enum router_loader loader;
        struct grp_target t;

        if (!slash || slash - path != 17)
                return -ENOENT;
        memcpy(mac, path, 17);
        mac[17] = '\0';
        if (tl_bind(r->tl, mac, c->ip, pxf_wall_usec()) < 0)
                return -ENOENT;
        c->known = tl_identify_mac(r->tl, mac, &c->id);
        t = choose(r, c);
        path = slash + 1;
        if (!menu_loader(path, &loader))
                return pxf_open_beneath(folder_of(r, &t), path, ret_st);
        log_choice(c, &t, path);
        if (t.kind == GRP_LOCAL) {
                (void)tl_to_disk(r->tl, c->id.mac, pxf_wall_usec());
                return menu_local(loader, c->id.mac, ret_st);
        }
        if (t.kind == GRP_IGNORE)
                return -ENOENT;
        return pxf_open_beneath(folder_of(r, &t), path, ret_st);
}

int router_open(void *ctx, const struct sockaddr *peer, size_t peer_len, const char *path,
                struct stat *ret_st)
{
        static const char by_mac[] = ".pxeforge/boot/";
        struct router *r = ctx;
        struct client c = {0};
        enum router_loader loader;

        (void)pxf_addr_text(peer, peer_len, c.ip, sizeof c.ip);
        if (strncmp(path, by_mac, strlen(by_mac)) == 0)
                return open_by_mac(r, &c, path + strlen(by_mac), ret_st);
        if (menu_loader(path, &loader))
                return menu_by_mac(loader, path, ret_st);
        c.known = tl_identify_ip(r->tl, c.ip, &c.id);
        struct grp_target t = choose(r, &c);
        return pxf_open_beneath(folder_of(r, &t), path, ret_st);
}
