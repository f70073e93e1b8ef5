/* Internal interfaces of the builder module; not for use outside builder/. */
#pragma once

#include <guestfs.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "builder/builder.h"
#include "cache/cache.h"

/* ---- the libguestfs session (guest.c) ------------------------------------------- */

enum bld_pkg_family {
        BLD_PKG_APT,
        BLD_PKG_DNF,
        BLD_PKG_TDNF,
};

/* The guest the customization steps work on: the image open in the libguestfs appliance
 * (g), or, for live outputs, the tree exported from it onto the host (tree; tree.c). */
struct bld_guest {
        guestfs_h *g;
        char *tree; /* the exported tree, when the steps run on it */
        int tree_fd;
        bool network;        /* of the tree's container */
        char *package_cache; /* downloaded packages kept across builds, on a tree; or NULL */
        const struct bld_package_sources *sources; /* for the package steps (borrowed) */
        bool sources_in; /* they are in the guest: the package manager runs with their options */
        const char *work_dir; /* the job's scratch space on the host (borrowed) */
        char *image;          /* for messages */
        char *distro;         /* as libguestfs inspection names it: "debian", "ubuntu", ... */
        int major_version;
        enum bld_pkg_family pkg;
        /* Live outputs make their own initramfs and boot menu: the image's are never
         * used, so package scripts, module and command-line changes need not rebuild them
         * (minutes under emulation; and GRUB cannot probe a tree's disk). */
        bool live;
};

struct bld_guest_params {
        const char *disk; /* the writable working disk */
        const char *format;
        const char *image_name; /* the user's input image, for messages */
        const char *tmpdir;     /* libguestfs scratch, inside the work directory */
        bool network;           /* package managers and scripts need it */
        bool live;              /* see struct bld_guest */
};

/* Launches the appliance on the disk, finds exactly one supported Linux OS and mounts
 * its file systems as its fstab says. On failure the guest is closed. */
int bld_guest_open(struct bld_guest *gs, const struct bld_guest_params *p, struct pxf_error *err);
/* A live build's guest from the cache instead: the image's tree, exported before, whose
 * inspection found distro major_version; the steps run on it as after
 * bld_guest_switch_to_tree. On failure the guest is closed. */
int bld_guest_open_tree(struct bld_guest *gs, const char *image_name, const char *distro,
                        int major_version, const char *tree, bool network, struct pxf_error *err);
/* Whether the VM tests prove this release (inspection's distro and major version). */
bool bld_release_proven(const char *distro, int major);
/* Unmounts, shuts the appliance down (reporting write errors) and frees the guest. */
int bld_guest_close(struct bld_guest *gs, struct pxf_error *err);
/* Frees without reporting; for error paths. Safe on a closed guest. */
void bld_guest_abort(struct bld_guest *gs);

/* Moves the steps from the appliance onto the tree exported from it: closes the
 * appliance (reporting write errors) and keeps what inspection found. Programs then run
 * in a container on the tree, with the host's network when network is set. */
int bld_guest_switch_to_tree(struct bld_guest *gs, const char *tree, bool network,
                             struct pxf_error *err);

/* Converts the last libguestfs error into err, with context; returns a negative errno. */
int bld_guest_error(struct bld_guest *gs, struct pxf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs argv inside the guest (no shell); its stdout goes to the debug log. */
int bld_guest_run(struct bld_guest *gs, const char *const *argv, struct pxf_error *err);
/* The same, handing back its stdout (at most a few MB: a libguestfs protocol limit). */
int bld_guest_capture(struct bld_guest *gs, const char *const *argv, char **ret,
                      struct pxf_error *err);
int bld_guest_write(struct bld_guest *gs, const char *path, const char *data, size_t len,
                    mode_t mode, struct pxf_error *err);
/* Reads a guest file of at most max bytes; *ret is NUL-terminated. A missing file gives
 * -ENOENT without an error message. */
int bld_guest_read(struct bld_guest *gs, const char *path, size_t max, char **ret,
                   struct pxf_error *err);
int bld_guest_mkdir_p(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err);
int bld_guest_upload(struct bld_guest *gs, const char *host_path, const char *guest_path,
                     mode_t mode, struct pxf_error *err);
bool bld_guest_exists(struct bld_guest *gs, const char *path);
bool bld_guest_is_dir(struct bld_guest *gs, const char *path);
int bld_guest_remove(struct bld_guest *gs, const char *path, struct pxf_error *err);
int bld_guest_chmod(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err);
/* Replaces path with a symbolic link to target. */
int bld_guest_symlink(struct bld_guest *gs, const char *target, const char *path,
                      struct pxf_error *err);
/* The names in the folder dir (without . and ..), or NULL; the caller frees them. */
char **bld_guest_ls(struct bld_guest *gs, const char *dir);
int bld_guest_chown(struct bld_guest *gs, const char *path, uid_t uid, gid_t gid,
                    struct pxf_error *err);

/* The same operations on an exported tree (tree.c), called by the bld_guest_* ones. */
int bld_tree_attach(struct bld_guest *gs, const char *tree, bool network, struct pxf_error *err);
void bld_tree_detach(struct bld_guest *gs);
int bld_tree_run(struct bld_guest *gs, const char *const *argv, struct pxf_error *err);
int bld_tree_capture(struct bld_guest *gs, const char *const *argv, char **ret,
                     struct pxf_error *err);
int bld_tree_write(struct bld_guest *gs, const char *path, const char *data, size_t len,
                   mode_t mode, struct pxf_error *err);
int bld_tree_read(struct bld_guest *gs, const char *path, size_t max, char **ret,
                  struct pxf_error *err);
int bld_tree_mkdir_p(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err);
int bld_tree_upload(struct bld_guest *gs, const char *host_path, const char *guest_path,
                    mode_t mode, struct pxf_error *err);
bool bld_tree_exists(struct bld_guest *gs, const char *path);
bool bld_tree_is_dir(struct bld_guest *gs, const char *path);
int bld_tree_remove(struct bld_guest *gs, const char *path, struct pxf_error *err);
int bld_tree_chmod(struct bld_guest *gs, const char *path, mode_t mode, struct pxf_error *err);
int bld_tree_symlink(struct bld_guest *gs, const char *target, const char *path,
                     struct pxf_error *err);
char **bld_tree_ls(struct bld_guest *gs, const char *dir);
int bld_tree_chown(struct bld_guest *gs, const char *path, uid_t uid, gid_t gid,
                   struct pxf_error *err);
/* Shares the regular files NAME<suffix> between a host folder (created if missing) and a
 * folder of the tree, by hard link: into the tree, or out of it into the host folder.
 * Returns how many were shared, or a negative errno. */
int bld_tree_share(struct bld_guest *gs, const char *host_dir, const char *guest_dir,
                   const char *suffix, bool into_tree);

/* Unpacks a tar stream (plain or zstd) from fd into dir, with the export's safeguards. */
int bld_unpack_tar(int fd, const char *dir, struct pxf_error *err);

/* ---- live builds in the build cache (live-cache.c) --------------------------------- */

/* The key of the customized tree: pxeforge, the image's SHA-256 (hex), the build's own
 * package sources, the settings that shape the tree and the host files they name. */
int bld_tree_key(const struct cfg_config *cfg, const struct bld_package_sources *sources,
                 const char *image_sha256, char key[CACHE_KEY_HEX + 1], struct pxf_error *err);
/* Unpacks the archive into tree (created), then removes the archive. */
int bld_tree_unpack(const char *archive, const char *tree, struct pxf_error *err);

/* The key of a live build's output: its tree's key, the format, the bootstrap base URL
 * used when the config sets none (may be NULL), and the settings that shape the artifacts
 * (pxe, iso) with the host files they name. */
int bld_output_key(const struct cfg_config *cfg, const char *tree_key, const char *format,
                   const char *default_url, char key[CACHE_KEY_HEX + 1], struct pxf_error *err);
/* Stores path under key: a folder as an archive of it (made in work_dir), a file as
 * itself. */
int bld_cache_keep(struct cache *c, const char *key, const char *path, bool is_dir,
                   const char *work_dir, struct pxf_error *err);
/* On a hit returns 1: a folder's archive is fetched into work_dir (checked) and
 * *ret_archive set (the caller unpacks it with bld_tree_unpack and frees the name); a file
 * is fetched to path, which must not exist. 0 on a miss. */
int bld_cache_take(struct cache *c, const char *key, const char *path, bool is_dir,
                   const char *work_dir, char **ret_archive, struct pxf_error *err);

/* Streams the guest's whole root tree into dir (an empty host directory) with owners,
 * modes, links, device nodes and xattrs; guest paths cannot escape dir. */
int bld_export_tree(struct bld_guest *gs, const char *dir, struct pxf_error *err);
/* The same for one folder of the guest (its contents land in dir). */
int bld_export_dir(struct bld_guest *gs, const char *guest_dir, const char *dir,
                   struct pxf_error *err);

/* ---- customization steps (one file each area) ----------------------------------- */

/* One customization step: whether the config asks anything of it, and applying it to
 * the open image (0 or a negative errno with err filled, prefixed with the config key). */
struct bld_step {
        const char *name; /* on the progress line */
        bool (*wanted)(const struct cfg_config *cfg);
        int (*apply)(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err);
};

extern const struct bld_step bld_step_packages;               /* packages.c */
extern const struct bld_step bld_step_hostname;               /* system.c */
extern const struct bld_step bld_step_groups;                 /* accounts.c */
extern const struct bld_step bld_step_users;                  /* accounts.c */
extern const struct bld_step bld_step_dirs;                   /* files.c */
extern const struct bld_step bld_step_files;                  /* files.c */
extern const struct bld_step bld_step_services;               /* system.c */
extern const struct bld_step bld_step_boot_report;            /* boot-report.c */
extern const struct bld_step bld_step_modules;                /* system.c, with the initramfs */
extern const struct bld_step bld_step_history;                /* history.c */
extern const struct bld_step bld_step_bootloader;             /* bootloader.c */
extern const struct bld_step bld_step_selinux;                /* selinux.c: the mode */
extern const struct bld_step bld_step_post_scripts;           /* scripts.c */
extern const struct bld_step bld_step_remove_package_manager; /* packages.c */
extern const struct bld_step bld_step_selinux_labels;         /* selinux.c: setfiles */
extern const struct bld_step bld_step_finalize_scripts;       /* scripts.c */
extern const struct bld_step bld_step_live_root;              /* live-root.c: live outputs */

/* Whether the packages step runs (it needs the network in the appliance). */
bool bld_packages_wanted(const struct cfg_config *cfg);

/* ---- package sources of one build (sources.c, sources-rpm.c) ----------------------- */

/* Where the package steps find them in the guest; gone afterwards. */
#define BLD_SOURCES_DIR "/var/lib/pxeforge-package-sources"

/* Whether any source is given or the image's own are off. */
bool bld_sources_wanted(const struct bld_package_sources *s);
/* Refuses, before any work, a source that is neither a folder of packages (.deb or .rpm,
 * each read) nor an apt source file (.list, .sources) nor a .repo file (parsed, its local
 * locations present). */
int bld_sources_check(const struct bld_package_sources *s, struct pxf_error *err);
/* Adds the sources' contents and the switch to a cache key (nothing when none is given). */
int bld_sources_key(struct cache_key *k, const struct bld_package_sources *s,
                    struct pxf_error *err);
/* Puts gs->sources into the guest for the package steps, as the image's package manager
 * takes them. */
int bld_sources_install(struct bld_guest *gs, struct pxf_error *err);
/* While they are in: appends the options program (argv's element just added) needs to
 * read them, at most BLD_SOURCES_MAX_OPTIONS, to argv at *n. */
#define BLD_SOURCES_MAX_OPTIONS 6
void bld_sources_options(const struct bld_guest *gs, const char *program, const char ***argv,
                         size_t *n);
/* Takes out of the guest everything bld_sources_install put there. */
int bld_sources_remove(struct bld_guest *gs, struct pxf_error *err);
/* The files of dir whose names end in suffix, sorted; names a package manager cannot take
 * are refused. *ret stays NULL when there is none. */
int bld_package_names(const char *dir, const char *suffix, char ***ret, struct pxf_error *err);
bool bld_is_apt_source_file(const char *path);
/* The packages names (of dir) into guest_dir; none (names NULL) is an error: the image
 * needs packages of this kind (suffix) from a folder it is given. */
int bld_sources_copy_packages(struct bld_guest *gs, const char *dir, char *const *names,
                              const char *suffix, const char *guest_dir, struct pxf_error *err);

/* dnf and tdnf images (sources-rpm.c). */
int bld_rpm_sources_install(struct bld_guest *gs, struct pxf_error *err);
void bld_rpm_sources_options(const char ***argv, size_t *n);
/* Refuses a file of names (in dir) that does not start as an RPM package does. */
int bld_rpm_check(const char *dir, char *const *names, struct pxf_error *err);
int bld_repo_file_check(const char *file, struct pxf_error *err);
int bld_repo_file_key(struct cache_key *k, const char *file, struct pxf_error *err);
/* A local location of a .repo file (file:// or file+rel://) as the host has it. */
struct bld_repo_location {
        const char *key;       /* baseurl or gpgkey */
        const char *value;     /* as written */
        const char *host_path; /* where it is on the host */
};
/* Gives the location the rewritten file names instead (a new string in *ret). */
typedef int (*bld_repo_map_fn)(void *ctx, const struct bld_repo_location *loc, char **ret,
                               struct pxf_error *err);
/* The text of a .repo file (file: its path, for messages and file+rel://) with every local
 * location of baseurl and gpgkey passed through map; file+chroot:// becomes file:// and
 * other locations stay. Refuses a key outside a section, a line that is neither, and a
 * repository without baseurl, naming file and line. Pure but for map; unit-tested. */
int bld_repo_file_rewrite(const char *file, const char *text, bld_repo_map_fn map, void *ctx,
                          char **ret, struct pxf_error *err);

/* The Packages index stanza of one .deb: its control fields, then where apt finds it.
 * Pure, unit-tested. */
char *bld_deb_stanza(const char *control, const char *filename, uint64_t size, const char *sha256);

/* Pure helpers, unit-tested. */
/* The value of a KEY=value line of a shell-style file (the last one wins, as the shell
 * reading it would; one pair of quotes removed), or NULL. */
char *bld_config_value(const char *text, const char *key);
/* The ID of an os-release text, if it is a plain lower-case word. */
char *bld_os_release_id(const char *text);
/* Text of /etc/modprobe.d/pxeforge.conf and /etc/modules-load.d/pxeforge.conf. */
char *bld_modprobe_conf(const struct cfg_module *mods, size_t n);
char *bld_modules_load_conf(const struct cfg_module *mods, size_t n);
/* The GRUB drop-in that adds args to GRUB_CMDLINE_LINUX, or with reset makes them the
 * whole command line; -EINVAL if an arg cannot be quoted. */
int bld_grub_default_dropin(char *const *args, bool reset, char **ret);
/* /etc/selinux/config with its SELINUX= line set to mode; its SELINUXTYPE (or NULL). */
char *bld_selinux_config_with_mode(const char *text, const char *mode);
char *bld_selinux_config_type(const char *text);
/* The folder of the image's policy, /etc/selinux/TYPE, from its /etc/selinux/config; an
 * error that says what to install when there is none. */
int bld_selinux_policy_dir(struct bld_guest *gs, char **ret, struct pxf_error *err);
/* Whether a GRUB menu starts SELinux (security=selinux, or selinux in an lsm= list). */
bool bld_grub_cfg_enables_selinux(const char *grub_cfg);
/* Refuses a full-os live output of an image that runs SELinux, unless the config turns it
 * off (Image Customizer's rule: a cpio initramfs carries no labels). */
int bld_selinux_live_check(struct bld_guest *gs, const struct cfg_config *cfg,
                           enum cfg_initramfs_type initramfs, struct pxf_error *err);
/* Refuses, right after the image is open, an enforcing mode for a live output of an image
 * whose policy is known to stop that boot (Debian 12). */
int bld_selinux_live_mode_check(const struct bld_guest *gs, const struct cfg_config *cfg,
                                struct pxf_error *err);
/* output.artifacts and output.selinuxPolicyPath (extras.c): refused for live formats
 * (with os.packages.removePackageManager and SELinux labels) before any work; copied out
 * of the open image after the steps. */
int bld_extras_check(const struct cfg_config *cfg, enum cfg_image_format format,
                     struct pxf_error *err);
bool bld_extras_wanted(const struct cfg_config *cfg);
int bld_copy_extras(struct bld_guest *gs, const struct cfg_config *cfg, struct pxf_error *err);
/* The image history record of a build of cfg at now: a JSON object. */
char *bld_history_entry(const struct cfg_config *cfg, time_t now);
/* The history list old (NULL or empty: none yet) with entry appended; -EINVAL when old is
 * not a JSON list. */
int bld_history_append(const char *old, const char *entry, char **ret);
/* /etc/hosts with the 127.0.1.1 line set to hostname. */
char *bld_hosts_with_hostname(const char *hosts, const char *hostname);
/* Whether a file listing (one path per line) holds the module's .ko file, compressed or
 * not; '-' and '_' are the same in module names. */
bool bld_listing_has_module(const char *listing, const char *module);

/* ---- progress (progress.c) -------------------------------------------------------- */

struct bld_progress {
        unsigned step, total;
        const char *name;
        uint64_t started;
        bool live; /* a ticking elapsed-time line, only on a terminal */
        bool json; /* JSON lines for programs besides the log lines */
        pthread_t ticker;
        bool ticking;
        pthread_mutex_t lock;
        pthread_cond_t wake;
};

/* JSON lines on stderr when json: {"event":"step-begin","step":N,"of":M,"name":S} and
 * {"event":"step-end",...,"ok":B,"seconds":X}; {"event":"artifact","name":S,"bytes":N,
 * "seconds":X} for what a step made (bld_progress_artifact). Names are pxeforge's own
 * words, never from an image or a config. */
void bld_progress_init(struct bld_progress *p, unsigned total, bool live, bool json);
void bld_progress_artifact(struct bld_progress *p, const char *name, uint64_t bytes,
                           double seconds);
void bld_progress_begin(struct bld_progress *p, const char *name);
/* Prints the step's line with its duration; returns r. */
int bld_progress_end(struct bld_progress *p, int r);
void bld_progress_done(struct bld_progress *p);

/* ---- disk files (disk-output.c) ------------------------------------------------- */

/* Checks the input's container metadata (qcow2, vhdx) so a truncated or corrupted image
 * is refused before the appliance starts; formats without checks pass. */
int bld_image_check(const char *input, enum bld_disk_format fmt, struct pxf_error *err);
/* Creates a qcow2 overlay at path backed by the input image. */
int bld_overlay_create(const char *input, enum bld_disk_format fmt, const char *path,
                       struct pxf_error *err);
/* Writes src (in src_format, as qemu-img names it) to dst in the requested disk output
 * format. */
int bld_disk_convert(const char *src, const char *src_format, enum cfg_image_format fmt,
                     const char *dst, bool progress, struct pxf_error *err);
