/* The artifacts manifest: what a finished artifacts folder holds, written into it so that
 * whoever copies or serves the folder can check it arrived whole.
 *
 * Two files, both plain text:
 *   - SHA256SUMS, in the exact format of `sha256sum` ("<64 hex>  <path>\n"), so that
 *     `cd <folder> && sha256sum -c SHA256SUMS` checks the folder without pxeforge;
 *   - manifest, "key: value" lines that tell what was built (format-version 1):
 *
 *       # pxeforge artifacts manifest
 *       format-version: 1
 *       pxeforge-version: 0.1.0
 *       kernel-version: 6.1.0-27-amd64
 *       initramfs-type: full-os
 *       kernel-command-line: console=ttyS0,115200 pxf.x=1
 *       bootstrap-url: http://10.0.0.1/image.iso          (only when there is one)
 *       ipxe: fallback                 (PXE: server.ipxe; iPXE is in ipxe/ unless off)
 *       grub-http: no                  (PXE: whether the network GRUB speaks HTTP)
 *       bios: none                     (PXE: server.bios; "grub from the image" or "grub
 *                                       from this host": whose grub-pc-bin made core.0)
 *       secure-boot: signed            (PXE: or "unsigned: vmlinuz, grubx64.efi", the
 *                                       chain's files a Secure Boot machine would refuse)
 *       minimum-memory-mib: 640        (PXE: the least RAM a machine boots them in,
 *                                       from memory.c)
 *       file: <size> <sha256> <path>                      (one per regular file)
 *
 *     kernel-command-line has nothing after its colon when there are no arguments. A new
 *     key may be added without a new format-version; a changed meaning needs one.
 *
 * Both list every regular file below the folder (symlinks and directories have no
 * contents to check), except SHA256SUMS and manifest themselves, in the order of
 * art_artifacts_list: byte-wise by path, which does not depend on the build host's locale.
 * Paths with control characters or backslashes are refused: sha256sum would escape them
 * and the line-oriented manifest could not hold them.
 *
 * The folder's listing lives here too; the tarball follows the same one.
 *
 * SHA-256 comes from OpenSSL's libcrypto (EVP), never a hand-written implementation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "artifacts/artifacts.h"
#include "artifacts/folder-internal.h"

#define CHUNK_SIZE     (1024 * 1024)
#define DEPTH_MAX      64
#define SHA256_HEX     64
#define SUMS_SIZE_MAX  (64u << 20)
#define FORMAT_VERSION 1

/* ---- the folder's entries ----------------------------------------------------------- */

struct lister {
        const char *dir;
        struct art_artifact *list;
        size_t n;
        char path[PATH_MAX]; /* the current entry, relative to the folder */
        struct pxf_error *err;
};

struct child {
        char *name;
        struct stat st;
};

static int walk_dir(struct lister *l, int dir_fd, size_t path_len, unsigned depth);

void art_artifacts_free(struct art_artifact *list, size_t n)
{
        for (size_t i = 0; list && i < n; i++) {
                free(list[i].path);
                free(list[i].link_target);
        }
        free(list);
}

static void children_free(struct child *c, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(c[i].name);
        free(c);
}

/* Byte-wise, a directory's name compared as if it ended in '/': walking each directory in
 * this order gives the byte-wise order of the whole paths ("a-b" < "a/" < "a/b"). */
static int child_cmp(const void *x, const void *y)
{
        const struct child *p = x, *q = y;
        const unsigned char *a = (const unsigned char *)p->name;
        const unsigned char *b = (const unsigned char *)q->name;
        int ca, cb;

        while (*a && *a == *b)
                a++, b++;
        ca = *a ? *a : S_ISDIR(p->st.st_mode) ? '/' : 0;
        cb = *b ? *b : S_ISDIR(q->st.st_mode) ? '/' : 0;
        return ca - cb;
}

static const char *path_or_dot(const struct lister *l)
{
        return l->path[0] ? l->path : ".";
}

/* The directory's entries with their lstat, sorted by child_cmp. */
static int read_children(struct lister *l, DIR *d, struct child **ret, size_t *ret_n)
{
        struct child *c = NULL;
        struct dirent *de;
        size_t n = 0;

        for (errno = 0; (de = readdir(d)); errno = 0) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                c = pxf_reallocarray(c, n + 1, sizeof(*c));
                c[n].name = pxf_strdup(de->d_name);
                if (fstatat(dirfd(d), de->d_name, &c[n++].st, AT_SYMLINK_NOFOLLOW) < 0) {
                        int r = pxf_error_set(l->err, -errno, "cannot stat '%s' in '%s': %m",
                                              de->d_name, path_or_dot(l));
                        children_free(c, n);
                        return r;
                }
        }
        if (errno != 0) {
                int r = pxf_error_set(l->err, -errno, "cannot list '%s': %m", path_or_dot(l));
                children_free(c, n);
                return r;
        }
        if (n > 0)
                qsort(c, n, sizeof(*c), child_cmp);
        *ret = c;
        *ret_n = n;
        return 0;
}

static const char *type_name(mode_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFIFO:
                return "fifo";
        case S_IFSOCK:
                return "socket";
        case S_IFCHR:
                return "character device";
        case S_IFBLK:
                return "block device";
        }
        return "file of unknown type";
}

static int read_link(struct lister *l, int dir_fd, const char *name, char **ret)
{
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(dir_fd, name, target, sizeof target);

        if (n < 0)
                return pxf_error_set(l->err, -errno, "cannot read link '%s': %m", l->path);
        if ((size_t)n >= sizeof target)
                return pxf_error_set(l->err, -ENAMETOOLONG, "link '%s' is too long", l->path);
        target[n] = '\0';
        *ret = pxf_strdup(target);
        return 0;
}

static int visit_subdir(struct lister *l, int dir_fd, const struct child *c, size_t path_len,
                        unsigned depth)
{
        struct stat opened;
        int fd;

        if (depth >= DEPTH_MAX)
                return pxf_error_set(l->err, -ELOOP, "'%s': directories nest deeper than %d",
                                     l->path, DEPTH_MAX);
        fd = openat(dir_fd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return pxf_error_set(l->err, -errno, "cannot open '%s': %m", l->path);
        if (fstat(fd, &opened) < 0 || opened.st_dev != c->st.st_dev ||
            opened.st_ino != c->st.st_ino) {
                close(fd);
                return pxf_error_set(l->err, -ESTALE, "'%s' changed while it was listed", l->path);
        }
        return walk_dir(l, fd, path_len, depth + 1);
}

/* Adds the entry l->path names to the list, then what a directory holds. */
static int visit(struct lister *l, int dir_fd, const struct child *c, size_t path_len,
                 unsigned depth)
{
        mode_t type = c->st.st_mode & S_IFMT;
        struct art_artifact *a;

        if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK)
                return pxf_error_set(l->err, -EINVAL,
                                     "'%s' is a %s; an artifacts folder holds only regular "
                                     "files, directories and symlinks",
                                     l->path, type_name(c->st.st_mode));
        l->list = pxf_reallocarray(l->list, l->n + 1, sizeof(*l->list));
        a = &l->list[l->n++];
        *a = (struct art_artifact){.path = pxf_strdup(l->path), .st = c->st};
        if (type == S_IFLNK)
                return read_link(l, dir_fd, c->name, &a->link_target);
        if (type == S_IFDIR)
                return visit_subdir(l, dir_fd, c, path_len, depth);
        return 0;
}

/* Walks the directory open at dir_fd (taking it over); l->path[0..path_len) names it. */
static int walk_dir(struct lister *l, int dir_fd, size_t path_len, unsigned depth)
{
        struct child *c = NULL;
        DIR *d = fdopendir(dir_fd);
        size_t n = 0;
        int r;

        if (!d) {
                r = pxf_error_set(l->err, -errno, "cannot list '%s': %m", path_or_dot(l));
                close(dir_fd);
                return r;
        }
        r = read_children(l, d, &c, &n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                size_t sep = path_len > 0, len = path_len + sep + strlen(c[i].name);
                if (len >= sizeof l->path) {
                        r = pxf_error_set(l->err, -ENAMETOOLONG, "'%s/%s' is too long", l->path,
                                          c[i].name);
                        break;
                }
                if (sep)
                        l->path[path_len] = '/';
                strcpy(l->path + path_len + sep, c[i].name);
                r = visit(l, dirfd(d), &c[i], len, depth);
                l->path[path_len] = '\0';
        }
        children_free(c, n);
        closedir(d);
        return r;
}

int art_artifacts_list(int root_fd, const char *dir, struct art_artifact **ret, size_t *ret_n,
                       struct pxf_error *err)
{
        struct lister l = {.dir = dir, .err = err};
        int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot open '%s': %m", dir);
        r = walk_dir(&l, fd, 0, 0);
        if (r < 0) {
                art_artifacts_free(l.list, l.n);
                return pxf_error_prefix(err, "cannot list the artifacts folder '%s'", dir);
        }
        *ret = l.list;
        *ret_n = l.n;
        return 0;
}

int art_artifact_open(int root_fd, const struct art_artifact *a, struct pxf_error *err)
{
        int fd =
            openat(root_fd, a->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return pxf_error_set(err, -errno, "cannot open '%s': %m", a->path);
        if (fstat(fd, &st) < 0) {
                int r = pxf_error_set(err, -errno, "cannot stat '%s': %m", a->path);
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_dev != a->st.st_dev || st.st_ino != a->st.st_ino) {
                close(fd);
                return pxf_error_set(err, -ESTALE, "'%s' changed after the folder was listed",
                                     a->path);
        }
        return fd;
}

/* ---- SHA-256 ------------------------------------------------------------------------ */

static void evp_md_ctx_freep(EVP_MD_CTX **p)
{
        EVP_MD_CTX_free(*p);
}

static void to_hex(const unsigned char *md, char hex[SHA256_HEX + 1])
{
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < SHA256_HEX / 2; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 0xf];
        }
        hex[SHA256_HEX] = '\0';
}

/* Hashes the open file to its end in chunks (a squashfs or an ISO is gigabytes); *ret_size
 * is the number of bytes hashed. path names it in messages. */
static int sha256_fd(int fd, const char *path, unsigned char *buf, char hex[SHA256_HEX + 1],
                     uint64_t *ret_size, struct pxf_error *err)
{
        __attribute__((cleanup(evp_md_ctx_freep))) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        uint64_t size = 0;

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return pxf_error_set(err, -ENOMEM, "cannot set up SHA-256 for '%s'", path);
        for (;;) {
                ssize_t n = read(fd, buf, CHUNK_SIZE);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxf_error_set(err, -errno, "cannot read '%s': %m", path);
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
                        return pxf_error_set(err, -EIO, "cannot hash '%s'", path);
                size += (uint64_t)n;
        }
        if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != SHA256_HEX / 2)
                return pxf_error_set(err, -EIO, "cannot hash '%s'", path);
        to_hex(md, hex);
        *ret_size = size;
        return 0;
}

/* ---- writing ------------------------------------------------------------------------ */

static bool has_control_char(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static int check_value(const char *key, const char *value, bool required, struct pxf_error *err)
{
        if (!value || !value[0])
                return required ? pxf_error_set(err, -EINVAL, "the manifest needs a %s", key) : 0;
        if (has_control_char(value))
                return pxf_error_set(err, -EINVAL,
                                     "%s '%s' holds a control character; the manifest is one "
                                     "line per value",
                                     key, value);
        return 0;
}

static int check_info(const struct art_manifest_info *info, struct pxf_error *err)
{
        int r;

        if (!info)
                return pxf_error_set(err, -EINVAL, "no manifest information");
        r = check_value("kernel-version", info->kernel_version, true, err);
        if (r >= 0)
                r = check_value("initramfs-type", info->initramfs_type, true, err);
        if (r >= 0)
                r = check_value("bootstrap-url", info->bootstrap_url, false, err);
        if (r >= 0)
                r = check_value("ipxe", info->ipxe, false, err);
        if (r >= 0)
                r = check_value("grub-http", info->grub_http, false, err);
        if (r >= 0)
                r = check_value("bios", info->bios, false, err);
        if (r >= 0)
                r = check_value("secure-boot", info->secure_boot, false, err);
        for (size_t i = 0; r >= 0 && info->kernel_args && info->kernel_args[i]; i++) {
                if (!info->kernel_args[i][0])
                        return pxf_error_set(err, -EINVAL, "an empty kernel argument");
                r = check_value("kernel argument", info->kernel_args[i], false, err);
        }
        return r;
}

/* SHA256SUMS and manifest at the top of the folder describe it; they are not part of it. */
static bool is_own_file(const char *path)
{
        return strcmp(path, ART_SHA256SUMS) == 0 || strcmp(path, ART_MANIFEST) == 0;
}

static void write_header(FILE *m, const struct art_manifest_info *info)
{
        fprintf(m, "# pxeforge artifacts manifest\n");
        fprintf(m, "format-version: %d\n", FORMAT_VERSION);
        fprintf(m, "pxeforge-version: %s\n", PXF_VERSION);
        fprintf(m, "kernel-version: %s\n", info->kernel_version);
        fprintf(m, "initramfs-type: %s\n", info->initramfs_type);
        fprintf(m, "kernel-command-line:");
        for (size_t i = 0; info->kernel_args && info->kernel_args[i]; i++)
                fprintf(m, " %s", info->kernel_args[i]);
        fprintf(m, "\n");
        if (info->bootstrap_url && info->bootstrap_url[0])
                fprintf(m, "bootstrap-url: %s\n", info->bootstrap_url);
        if (info->ipxe)
                fprintf(m, "ipxe: %s\n", info->ipxe);
        if (info->grub_http)
                fprintf(m, "grub-http: %s\n", info->grub_http);
        if (info->bios)
                fprintf(m, "bios: %s\n", info->bios);
        if (info->secure_boot)
                fprintf(m, "secure-boot: %s\n", info->secure_boot);
        if (info->min_memory_mib)
                fprintf(m, "minimum-memory-mib: %u\n", info->min_memory_mib);
}

int art_manifest_value(const char *dir, const char *key, char **ret, struct pxf_error *err)
{
        _cleanup_free_ char *path = pxf_asprintf("%s/%s", dir, ART_MANIFEST), *text = NULL;
        size_t klen = strlen(key);
        char *line, *save = NULL;
        int r = pxf_read_file(path, SUMS_SIZE_MAX, &text, NULL);

        *ret = NULL;
        if (r < 0)
                return pxf_error_set(err, r, "cannot read %s: %s", path, strerror(-r));
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        *ret = pxf_strdup(line + klen + 1 + strspn(line + klen + 1, " "));
                        break;
                }
        return 0;
}

/* Hashes one listed file and adds its lines to both texts. */
static int add_file(int root_fd, const struct art_artifact *a, unsigned char *buf, FILE *sums,
                    FILE *m, struct pxf_error *err)
{
        char hex[SHA256_HEX + 1];
        uint64_t size = 0;
        int fd, r;

        if (has_control_char(a->path) || strchr(a->path, '\\'))
                return pxf_error_set(err, -EINVAL,
                                     "'%s': a path with a control character or a backslash "
                                     "cannot be listed in " ART_SHA256SUMS,
                                     a->path);
        fd = art_artifact_open(root_fd, a, err);
        if (fd < 0)
                return fd;
        r = sha256_fd(fd, a->path, buf, hex, &size, err);
        close(fd);
        if (r < 0)
                return r;
        if (size != (uint64_t)a->st.st_size)
                return pxf_error_set(err, -ESTALE, "'%s' changed while it was hashed", a->path);
        fprintf(sums, "%s  %s\n", hex, a->path);
        fprintf(m, "file: %" PRIu64 " %s %s\n", size, hex, a->path);
        return 0;
}

static int add_files(int root_fd, const char *dir, FILE *sums, FILE *m, struct pxf_error *err)
{
        _cleanup_free_ unsigned char *buf = malloc(CHUNK_SIZE);
        struct art_artifact *list = NULL;
        size_t n = 0;
        int r;

        if (!buf)
                abort();
        r = art_artifacts_list(root_fd, dir, &list, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (S_ISREG(list[i].st.st_mode) && !is_own_file(list[i].path))
                        r = add_file(root_fd, &list[i], buf, sums, m, err);
        art_artifacts_free(list, n);
        return r;
}

/* Writes text as dir/name through dir/name.partial, world-readable: the HTTP and TFTP
 * servers read the folder as an unprivileged user. */
static int write_text(const char *dir, const char *name, const char *text, size_t len,
                      struct pxf_error *err)
{
        _cleanup_free_ char *dst = pxf_asprintf("%s/%s", dir, name);

        return pxf_write_file_atomic(dst, text, len, 0644, err);
}

struct text {
        char *buf;
        size_t len;
        FILE *f;
};

static void text_open(struct text *t)
{
        t->f = open_memstream(&t->buf, &t->len);
        if (!t->f)
                abort();
}

/* Closes the stream so that buf and len are final; aborts on OOM like pxf_asprintf. */
static void text_finish(struct text *t)
{
        if (t->f && fclose(t->f) != 0)
                abort();
        t->f = NULL;
}

static void text_done(struct text *t)
{
        text_finish(t);
        free(t->buf);
}

int art_manifest_write(const char *dir, const struct art_manifest_info *info, struct pxf_error *err)
{
        _cleanup_close_ int root_fd = -1;
        struct text sums = {0}, m = {0};
        int r;

        r = check_info(info, err);
        if (r < 0)
                return r;
        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return pxf_error_set(err, -errno, "cannot open the artifacts folder '%s': %m", dir);
        /* Leftovers of an interrupted run would otherwise be listed as artifacts. */
        (void)unlinkat(root_fd, ART_SHA256SUMS ".partial", 0);
        (void)unlinkat(root_fd, ART_MANIFEST ".partial", 0);
        text_open(&sums);
        text_open(&m);
        write_header(m.f, info);
        r = add_files(root_fd, dir, sums.f, m.f, err);
        text_finish(&sums);
        text_finish(&m);
        if (r >= 0)
                r = write_text(dir, ART_SHA256SUMS, sums.buf, sums.len, err);
        if (r >= 0)
                r = write_text(dir, ART_MANIFEST, m.buf, m.len, err);
        text_done(&sums);
        text_done(&m);
        return r;
}

/* ---- checking ----------------------------------------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
                        return false;
        return true;
}

/* A path SHA256SUMS may name: relative, no empty, "." or ".." component, no control
 * character. */
static bool safe_path(const char *p)
{
        if (!p[0] || p[0] == '/' || has_control_char(p))
                return false;
        for (const char *c = p; *c;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += n;
                if (*c == '/' && !*++c)
                        return false; /* a trailing '/' */
        }
        return true;
}

/* at_fd/name: the component that could not be opened. */
static int open_failed(int at_fd, const char *name, const char *path, struct pxf_error *err)
{
        int e = errno;
        struct stat st;

        /* With O_DIRECTORY, a symlink fails as "not a directory". */
        if (e == ENOTDIR && fstatat(at_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
                e = ELOOP;

        if (e == ENOENT)
                return pxf_error_set(err, -ENOENT,
                                     "'%s' is listed in " ART_SHA256SUMS " but missing", path);
        if (e == ELOOP)
                return pxf_error_set(err, -ELOOP, "'%s' goes through a symlink", path);
        return pxf_error_set(err, -e, "cannot open '%s': %s", path, strerror(e));
}

/* Opens path below root_fd one component at a time, never through a symlink, so that a
 * folder being served cannot be made to hash (and vouch for) a file elsewhere. */
static int open_beneath(int root_fd, const char *path, struct pxf_error *err)
{
        _cleanup_free_ char *copy = pxf_strdup(path);
        _cleanup_close_ int dir_fd = -1;
        char *name = copy, *slash;
        int fd;

        while ((slash = strchr(name, '/'))) {
                int at_fd = dir_fd >= 0 ? dir_fd : root_fd;
                *slash = '\0';
                fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return open_failed(at_fd, name, path, err);
                closep(&dir_fd);
                dir_fd = fd;
                name = slash + 1;
        }
        fd = openat(dir_fd >= 0 ? dir_fd : root_fd, name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        return fd < 0 ? open_failed(dir_fd >= 0 ? dir_fd : root_fd, name, path, err) : fd;
}

static int check_file(int root_fd, const char *path, const char *want, unsigned char *buf,
                      struct pxf_error *err)
{
        char hex[SHA256_HEX + 1];
        uint64_t size = 0;
        struct stat st;
        int fd, r;

        fd = open_beneath(root_fd, path, err);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return pxf_error_set(err, -EBADMSG, "'%s' is not a regular file", path);
        }
        r = sha256_fd(fd, path, buf, hex, &size, err);
        close(fd);
        if (r < 0)
                return r;
        if (strncasecmp(hex, want, SHA256_HEX) != 0)
                return pxf_error_set(err, -EBADMSG,
                                     "'%s' does not match " ART_SHA256SUMS
                                     ": its sha256 is %s, not %.64s",
                                     path, hex, want);
        return 0;
}

/* One line of sha256sum's output: 64 hex digits, a space, ' ' (text) or '*' (binary), the
 * path. line is NUL-terminated in place. */
static int check_line(int root_fd, char *line, size_t line_no, unsigned char *buf,
                      struct pxf_error *err)
{
        const char *path = line + SHA256_HEX + 2;

        if (strlen(line) <= SHA256_HEX + 2 || !is_hex(line, SHA256_HEX) ||
            line[SHA256_HEX] != ' ' || (line[SHA256_HEX + 1] != ' ' && line[SHA256_HEX + 1] != '*'))
                return pxf_error_set(err, -EBADMSG, ART_SHA256SUMS " line %zu is malformed",
                                     line_no);
        if (!safe_path(path))
                return pxf_error_set(err, -EBADMSG,
                                     ART_SHA256SUMS " line %zu names a path outside the folder",
                                     line_no);
        return check_file(root_fd, path, line, buf, err);
}

static int check_sums(int root_fd, char *text, struct pxf_error *err)
{
        _cleanup_free_ unsigned char *buf = malloc(CHUNK_SIZE);
        size_t line_no = 0;
        int r = 0;

        if (!buf)
                abort();
        for (char *p = text; r >= 0 && *p;) {
                size_t n = strcspn(p, "\n");
                bool more = p[n] == '\n';
                p[n] = '\0';
                r = check_line(root_fd, p, ++line_no, buf, err);
                p += n + more;
        }
        return r;
}

int art_manifest_verify(const char *dir, struct pxf_error *err)
{
        _cleanup_free_ char *sums_path = pxf_asprintf("%s/" ART_SHA256SUMS, dir);
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int root_fd = -1;
        size_t len = 0;
        int r;

        root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return pxf_error_set(err, -errno, "cannot open the artifacts folder '%s': %m", dir);
        r = pxf_read_file(sums_path, SUMS_SIZE_MAX, &text, &len);
        if (r < 0)
                return pxf_error_set(err, r, "cannot read '%s': %s", sums_path, strerror(-r));
        if (strlen(text) != len)
                return pxf_error_set(err, -EBADMSG, "'%s' holds a NUL byte", sums_path);
        return check_sums(root_fd, text, err);
}
