/* See cache.h. The lock file is `.lock` (flock: shared while fetching, exclusive while
 * storing and evicting); scratch files are `.store-*` and `*.partial`; the time an entry was last
 * used is the modification time of its `.sha256` file (the entry itself may be hard-linked into an
 * output, whose times are not the cache's to change). */
#include "cache/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX       ".sha256"
#define SCRATCH      ".store-"
#define READ_CHUNK   (1u << 20)
#define NAME_MAX_LEN 128

struct cache {
        char *dir;
        int dir_fd, lock_fd;
        uint64_t max_bytes;
};

struct cache_key {
        EVP_MD_CTX *ctx;
};

/* ---- keys ---------------------------------------------------------------------------- */

static void key_bytes(struct cache_key *k, const void *data, size_t len)
{
        (void)EVP_DigestUpdate(k->ctx, data, len);
}

/* A length before every piece keeps "ab"+"c" apart from "a"+"bc". */
static void key_piece(struct cache_key *k, const void *data, size_t len)
{
        uint64_t n = len;

        key_bytes(k, &n, sizeof n);
        key_bytes(k, data, len);
}

struct cache_key *cache_key_new(const char *kind)
{
        struct cache_key *k = pxf_calloc(1, sizeof *k);

        k->ctx = EVP_MD_CTX_new();
        if (!k->ctx || EVP_DigestInit_ex(k->ctx, EVP_sha256(), NULL) != 1)
                abort(); /* out of memory, as pxf_calloc treats it */
        key_piece(k, kind, strlen(kind));
        return k;
}

void cache_key_add(struct cache_key *k, const char *name, const char *value)
{
        key_piece(k, name, strlen(name));
        key_piece(k, value ? value : "", value ? strlen(value) + 1 : 0);
}

static int key_file_data(struct cache_key *k, const char *path, struct pxf_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ unsigned char *buf = NULL;
        ssize_t n;

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", path);
        buf = pxf_calloc(READ_CHUNK, 1);
        while ((n = read(fd, buf, READ_CHUNK)) > 0)
                key_bytes(k, buf, (size_t)n);
        return n < 0 ? pxf_error_set(err, -errno, "cannot read '%s': %m", path) : 0;
}

static int compare_names(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int key_tree(struct cache_key *k, const char *path, const char *rel, struct pxf_error *err);

static int key_folder(struct cache_key *k, const char *path, const char *rel, struct pxf_error *err)
{
        struct dirent **names = NULL;
        int n = scandir(path, &names, NULL, compare_names), r = 0;

        if (n < 0)
                return pxf_error_set(err, -errno, "cannot list '%s': %m", path);
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                if (r >= 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
                        _cleanup_free_ char *child = pxf_asprintf("%s/%s", path, name);
                        _cleanup_free_ char *child_rel = pxf_asprintf("%s/%s", rel, name);
                        r = key_tree(k, child, child_rel, err);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

/* One entry of a folder (or the file itself): its relative name, type and mode, then its
 * contents, link target or children. */
static int key_tree(struct cache_key *k, const char *path, const char *rel, struct pxf_error *err)
{
        struct stat st;
        char target[4096];
        ssize_t n;

        if (lstat(path, &st) < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", path);
        key_piece(k, rel, strlen(rel));
        key_bytes(k, &st.st_mode, sizeof st.st_mode);
        if (S_ISREG(st.st_mode))
                return key_file_data(k, path, err);
        if (S_ISDIR(st.st_mode))
                return key_folder(k, path, rel, err);
        if (!S_ISLNK(st.st_mode))
                return 0;
        n = readlink(path, target, sizeof target);
        if (n < 0)
                return pxf_error_set(err, -errno, "cannot read the link '%s': %m", path);
        key_piece(k, target, (size_t)n);
        return 0;
}

int cache_key_add_file(struct cache_key *k, const char *name, const char *path,
                       struct pxf_error *err)
{
        struct stat st;

        key_piece(k, name, strlen(name));
        if (stat(path, &st) < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", path);
        return S_ISDIR(st.st_mode) ? key_folder(k, path, ".", err) : key_file_data(k, path, err);
}

static void to_hex(const unsigned char *md, unsigned len, char *hex)
{
        static const char digits[] = "0123456789abcdef";

        for (unsigned i = 0; i < len; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[2 * len] = '\0';
}

void cache_key_finish(struct cache_key *k, char hex[CACHE_KEY_HEX + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        (void)EVP_DigestFinal_ex(k->ctx, md, &len);
        to_hex(md, len, hex);
        cache_key_free(k);
}

void cache_key_free(struct cache_key *k)
{
        if (!k)
                return;
        EVP_MD_CTX_free(k->ctx);
        free(k);
}

/* ---- the store ----------------------------------------------------------------------- */

static bool valid_key(const char *key)
{
        size_t n = strspn(key, "0123456789abcdef");

        return n == CACHE_KEY_HEX && key[n] == '\0';
}

/* The SHA-256 of the whole file behind fd, as hex. */
int cache_fd_sha256(int fd, char hex[CACHE_KEY_HEX + 1])
{
        struct cache_key k = {.ctx = EVP_MD_CTX_new()};
        _cleanup_free_ unsigned char *buf = pxf_calloc(READ_CHUNK, 1);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        ssize_t n = -1;

        if (k.ctx && EVP_DigestInit_ex(k.ctx, EVP_sha256(), NULL) == 1 &&
            lseek(fd, 0, SEEK_SET) == 0)
                while ((n = read(fd, buf, READ_CHUNK)) > 0)
                        key_bytes(&k, buf, (size_t)n);
        if (n == 0)
                (void)EVP_DigestFinal_ex(k.ctx, md, &len);
        EVP_MD_CTX_free(k.ctx);
        if (n != 0)
                return -EIO;
        to_hex(md, len, hex);
        return 0;
}

int cache_file_sha256(const char *path, char hex[CACHE_KEY_HEX + 1])
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        int r;

        if (fd < 0)
                return -errno;
        r = cache_fd_sha256(fd, hex);
        close(fd);
        return r;
}

static int lock(struct cache *c, int how)
{
        while (flock(c->lock_fd, how) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static void unlock(struct cache *c)
{
        (void)flock(c->lock_fd, LOCK_UN);
}

/* Scratch files of stores that never finished (killed builds); only under the exclusive
 * lock, when no store of another build is under way. */
/* A stream over the cache folder (its own descriptor), or NULL. */
static DIR *open_listing(struct cache *c)
{
        int fd = openat(c->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

        if (!d && fd >= 0)
                (void)close(fd);
        return d;
}

static void remove_scratch(struct cache *c)
{
        DIR *d = open_listing(c);
        struct dirent *e;

        while (d && (e = readdir(d)))
                if (strncmp(e->d_name, SCRATCH, strlen(SCRATCH)) == 0 ||
                    pxf_has_suffix(e->d_name, ".partial"))
                        (void)unlinkat(c->dir_fd, e->d_name, 0);
        if (d)
                closedir(d);
}

int cache_open(const char *dir, uint64_t max_bytes, struct cache **ret, struct pxf_error *err)
{
        struct cache *c;
        int r = pxf_mkdir_p(dir, 0700);

        if (r < 0)
                return pxf_error_set(err, r, "cannot create the cache '%s': %s", dir, strerror(-r));
        c = pxf_calloc(1, sizeof *c);
        c->dir = pxf_strdup(dir);
        c->max_bytes = max_bytes;
        c->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        c->lock_fd =
            c->dir_fd < 0 ? -1 : openat(c->dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (c->lock_fd < 0) {
                r = pxf_error_set(err, -errno, "cannot open the cache '%s': %m", dir);
                cache_close(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct cache *cache_close(struct cache *c)
{
        if (!c)
                return NULL;
        if (c->lock_fd >= 0)
                (void)close(c->lock_fd);
        if (c->dir_fd >= 0)
                (void)close(c->dir_fd);
        free(c->dir);
        free(c);
        return NULL;
}

const char *cache_dir(const struct cache *c)
{
        return c->dir;
}

static void drop_entry(struct cache *c, const char *key)
{
        char sums[NAME_MAX_LEN];

        (void)snprintf(sums, sizeof sums, "%s" SUFFIX, key);
        (void)unlinkat(c->dir_fd, sums, 0); /* the checksum first: no entry without it */
        (void)unlinkat(c->dir_fd, key, 0);
}

/* Whether the entry's bytes match the checksum stored with it. */
static bool entry_intact(struct cache *c, const char *key, int fd)
{
        char sums[NAME_MAX_LEN], want[CACHE_KEY_HEX + 3] = "", have[CACHE_KEY_HEX + 1];
        _cleanup_close_ int sfd = -1;
        ssize_t n;

        (void)snprintf(sums, sizeof sums, "%s" SUFFIX, key);
        sfd = openat(c->dir_fd, sums, O_RDONLY | O_CLOEXEC);
        n = sfd < 0 ? -1 : read(sfd, want, CACHE_KEY_HEX + 2);
        if (n != CACHE_KEY_HEX + 1 || want[CACHE_KEY_HEX] != '\n')
                return false;
        want[CACHE_KEY_HEX] = '\0';
        return cache_fd_sha256(fd, have) == 0 && strcmp(have, want) == 0;
}

static int copy_into(int in, const char *dest)
{
        _cleanup_close_ int out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        ssize_t n;

        if (out < 0)
                return -errno;
        (void)lseek(in, 0, SEEK_SET);
        while ((n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0)) > 0)
                ;
        return n < 0 ? -errno : 0;
}

/* Marks the entry as used now, for the eviction order. */
static void touch_entry(struct cache *c, const char *key)
{
        char sums[NAME_MAX_LEN];

        (void)snprintf(sums, sizeof sums, "%s" SUFFIX, key);
        (void)utimensat(c->dir_fd, sums, NULL, 0);
}

static int fetch_locked(struct cache *c, const char *key, const char *dest, struct pxf_error *err)
{
        _cleanup_close_ int fd = openat(c->dir_fd, key, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *src = pxf_asprintf("%s/%s", c->dir, key);
        int r;

        if (fd < 0)
                return 0;
        if (!entry_intact(c, key, fd)) {
                log_warning("cache: the entry %.12s in '%s' is damaged: removed, and made again",
                            key, c->dir);
                return -ESTALE;
        }
        touch_entry(c, key);
        r = link(src, dest) == 0 ? 0 : errno == EXDEV ? copy_into(fd, dest) : -errno;
        if (r < 0)
                return pxf_error_set(err, r, "cannot take '%s' from the cache: %s", dest,
                                     strerror(-r));
        return 1;
}

/* Checks the key and takes the lock (LOCK_SH or LOCK_EX). */
static int lock_for(struct cache *c, const char *key, int how, struct pxf_error *err)
{
        int r;

        if (!valid_key(key))
                return pxf_error_set(err, -EINVAL, "bad cache key '%s'", key);
        r = lock(c, how);
        return r < 0 ? pxf_error_set(err, r, "cannot lock the cache '%s': %s", c->dir, strerror(-r))
                     : 0;
}

int cache_lock_making(struct cache *c, const char *key)
{
        _cleanup_free_ char *name = pxf_asprintf(".making-%s", key);
        int fd = openat(c->dir_fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                return fd;
        log_info("cache: another build is making %.12s; waiting for it", key);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        int r = -errno;
                        (void)close(fd);
                        return r;
                }
        return fd;
}

int cache_fetch(struct cache *c, const char *key, const char *dest, struct pxf_error *err)
{
        int r = lock_for(c, key, LOCK_SH, err);

        if (r < 0)
                return r;
        r = fetch_locked(c, key, dest, err);
        unlock(c);
        if (r != -ESTALE)
                return r;
        /* Damaged: removed under the exclusive lock, so no fetch is reading it. */
        if (lock(c, LOCK_EX) == 0) {
                drop_entry(c, key);
                unlock(c);
        }
        return 0;
}

/* ---- storing and evicting ------------------------------------------------------------ */

struct entry {
        char key[CACHE_KEY_HEX + 1];
        uint64_t bytes;
        struct timespec used;
};

static int compare_used(const void *a, const void *b)
{
        const struct entry *x = a, *y = b;

        if (x->used.tv_sec != y->used.tv_sec)
                return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
        return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

/* The complete entries, and their total size. */
static size_t list_entries(struct cache *c, struct entry **ret, uint64_t *total)
{
        DIR *d = open_listing(c);
        struct entry *all = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;

        *total = 0;
        while (d && (e = readdir(d))) {
                struct stat data, sums;
                size_t len = strlen(e->d_name);
                if (len != CACHE_KEY_HEX + strlen(SUFFIX) || !strstr(e->d_name, SUFFIX))
                        continue;
                if (n == cap)
                        all = pxf_reallocarray(all, cap = cap ? 2 * cap : 16, sizeof *all);
                memcpy(all[n].key, e->d_name, CACHE_KEY_HEX);
                all[n].key[CACHE_KEY_HEX] = '\0';
                if (fstatat(c->dir_fd, e->d_name, &sums, 0) < 0 ||
                    fstatat(c->dir_fd, all[n].key, &data, 0) < 0)
                        continue;
                all[n].bytes = (uint64_t)data.st_size;
                all[n].used = sums.st_mtim;
                *total += all[n].bytes;
                n++;
        }
        if (d)
                closedir(d);
        *ret = all;
        return n;
}

static void evict(struct cache *c, const char *keep)
{
        _cleanup_free_ struct entry *all = NULL;
        uint64_t total;
        size_t n = list_entries(c, &all, &total);

        qsort(all, n, sizeof *all, compare_used);
        for (size_t i = 0; i < n && total > c->max_bytes; i++) {
                if (strcmp(all[i].key, keep) == 0)
                        continue;
                log_info("cache: evicting %.12s (%.1f MiB) to stay within %.1f GiB", all[i].key,
                         (double)all[i].bytes / 1048576.0, (double)c->max_bytes / 1073741824.0);
                drop_entry(c, all[i].key);
                total -= all[i].bytes;
        }
}

uint64_t cache_size(struct cache *c)
{
        _cleanup_free_ struct entry *all = NULL;
        uint64_t total;

        (void)list_entries(c, &all, &total);
        return total;
}

/* The entry's data beside its final name and renamed, then its checksum (written through
 * a partial file and renamed): an entry counts only once both are there. */
static int write_entry(struct cache *c, const char *key, const char *src, struct pxf_error *err)
{
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *tmp_path = pxf_asprintf("%s/" SCRATCH "%s", c->dir, key);
        _cleanup_free_ char *data_path = pxf_asprintf("%s/%s", c->dir, key);
        _cleanup_free_ char *sums_path = pxf_asprintf("%s/%s" SUFFIX, c->dir, key);
        char hex[CACHE_KEY_HEX + 2];
        int r;

        if (in < 0)
                return pxf_error_set(err, -errno, "cannot read '%s': %m", src);
        (void)unlink(tmp_path);
        r = link(src, tmp_path) == 0 ? 0 : errno == EXDEV ? copy_into(in, tmp_path) : -errno;
        if (r >= 0)
                r = cache_fd_sha256(in, hex);
        if (r >= 0 && rename(tmp_path, data_path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp_path);
                return pxf_error_set(err, r, "cannot store '%s' in the cache '%s': %s", src, c->dir,
                                     strerror(-r));
        }
        hex[CACHE_KEY_HEX] = '\n';
        r = pxf_write_file_atomic(sums_path, hex, CACHE_KEY_HEX + 1, 0644, err);
        if (r < 0)
                drop_entry(c, key);
        return r;
}

int cache_store(struct cache *c, const char *key, const char *src, struct pxf_error *err)
{
        int r = lock_for(c, key, LOCK_EX, err);

        if (r < 0)
                return r;
        remove_scratch(c);
        drop_entry(c, key);
        r = write_entry(c, key, src, err);
        if (r >= 0)
                evict(c, key);
        unlock(c);
        return r;
}
