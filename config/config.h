/* config: the YAML configuration users bring, loaded into plain C structures.
 *
 * Field names follow Microsoft's Image Customizer so existing configs work. Loading is
 * strict: unknown keys, wrong types, bad enum values, missing required values and
 * conflicting fields are errors, each reported with file:line:column and the key path
 * (os.users[1].password.type). Every error in the file is reported, not only the first.
 *
 * Relative paths in the file are resolved against the directory of the config file at
 * load time, so every path in struct cfg_config is usable as is.
 *
 * This module is pure: it reads the config file (and, on request, checks that referenced
 * files exist) and never touches an image. It owns every string in struct cfg_config;
 * cfg_free() releases them all.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "httpd/httpd.h"
#include "tftpd/tftpd.h"

#define CFG_FILE_MAX  (1024 * 1024) /* a config or package-list file larger is refused */
#define CFG_DEPTH_MAX 32            /* nesting deeper than this is refused */

/* Where a value sits in the config file, 1-based; 0 when it did not come from the file. */
struct cfg_loc {
        unsigned line;
        unsigned column;
        const char *file; /* the base config it came from (one of cfg_config.files); NULL:
                           * the config file itself */
};

enum cfg_password_type {
        CFG_PASSWORD_LOCKED,
        CFG_PASSWORD_PLAIN_TEXT,
        CFG_PASSWORD_HASHED,
        CFG_PASSWORD_PLAIN_TEXT_FILE,
        CFG_PASSWORD_HASHED_FILE,
};

struct cfg_password {
        enum cfg_password_type type;
        char *value; /* the text, or for *-file types the resolved path of the file */
        struct cfg_loc value_loc;
};

struct cfg_user {
        char *name; /* required */
        bool has_uid;
        uint32_t uid;
        bool has_password;
        struct cfg_password password;
        bool has_password_expires_days;
        int password_expires_days;                /* -1 (never) .. 99999 */
        char **ssh_public_keys;                   /* NULL-terminated; NULL when unset */
        char **ssh_public_key_paths;              /* resolved paths */
        struct cfg_loc *ssh_public_key_path_locs; /* one per ssh_public_key_paths entry */
        char *primary_group;
        char **secondary_groups;
        char *startup_command; /* the login shell */
        char *home_directory;
        struct cfg_loc loc;
};

struct cfg_group {
        char *name; /* required */
        bool has_gid;
        uint32_t gid;
        struct cfg_loc loc;
};

/* os.additionalFiles[], iso.additionalFiles[], pxe.additionalFiles[]: exactly one of
 * source and content is set. */
struct cfg_file {
        char *source; /* resolved path on the host */
        struct cfg_loc source_loc;
        char *content;
        char *destination; /* required; absolute in the image (os) or relative (iso/pxe) */
        bool has_permissions;
        mode_t permissions;
        struct cfg_loc loc;
};

struct cfg_dir {
        char *source; /* required; resolved path of a host directory */
        struct cfg_loc source_loc;
        char *destination; /* required; absolute path in the image */
        bool has_new_dir_permissions;
        mode_t new_dir_permissions;
        bool has_merged_dir_permissions;
        mode_t merged_dir_permissions;
        bool has_child_file_permissions;
        mode_t child_file_permissions;
        struct cfg_loc loc;
};

enum cfg_module_load_mode {
        CFG_MODULE_INHERIT, /* the default: keep what the image does, only set options */
        CFG_MODULE_ALWAYS,
        CFG_MODULE_AUTO,
        CFG_MODULE_DISABLE,
};

struct cfg_module {
        char *name; /* required */
        enum cfg_module_load_mode load_mode;
        char *options; /* "name=value name=value" from the options mapping; NULL when unset */
        struct cfg_loc loc;
};

/* scripts.postCustomization[] and scripts.finalizeCustomization[]: exactly one of path
 * and content is set. */
struct cfg_script {
        char *path; /* resolved path on the host */
        struct cfg_loc path_loc;
        char *content;
        char *interpreter; /* NULL: run the file itself (path) or /bin/sh (content) */
        char **arguments;
        char **environment; /* "NAME=value" strings, in file order */
        char *name;         /* for logs; NULL when unset */
        struct cfg_loc loc;
};

struct cfg_packages {
        bool update_existing;
        bool remove_package_manager; /* remove apt and dpkg (or dnf and rpm) last */
        struct cfg_loc remove_package_manager_loc;
        char **install, **remove, **update;
        /* resolved paths of YAML files holding `packages: [...]` */
        char **install_lists, **remove_lists, **update_lists;
        /* where each entry of the *_lists came from, one per entry */
        struct cfg_loc *install_lists_locs, *remove_lists_locs, *update_lists_locs;
};

enum cfg_initramfs_type {
        CFG_INITRAMFS_UNSET,
        CFG_INITRAMFS_BOOTSTRAP,
        CFG_INITRAMFS_FULL_OS,
};

enum cfg_selinux_mode {
        CFG_SELINUX_UNSET,
        CFG_SELINUX_DISABLED,
        CFG_SELINUX_PERMISSIVE,
        CFG_SELINUX_ENFORCING,
        CFG_SELINUX_FORCE_ENFORCING,
};

/* The mode as the config writes it ("force-enforcing"); "unset" for CFG_SELINUX_UNSET. */
const char *cfg_selinux_mode_name(enum cfg_selinux_mode mode);

enum cfg_image_format {
        CFG_FORMAT_UNSET,
        CFG_FORMAT_RAW,
        CFG_FORMAT_QCOW2,
        CFG_FORMAT_VHD,
        CFG_FORMAT_VHD_FIXED,
        CFG_FORMAT_VHDX,
        CFG_FORMAT_ISO,
        CFG_FORMAT_PXE_DIR,
        CFG_FORMAT_PXE_TAR,
};

/* The `iso` and `pxe` sections share these fields. */
struct cfg_live {
        enum cfg_initramfs_type initramfs_type;
        struct cfg_loc initramfs_type_loc;
        char **extra_command_line; /* kernelCommandLine.extraCommandLine */
        struct cfg_file *additional_files;
        size_t n_additional_files;
};

struct cfg_pxe {
        struct cfg_live live;
        char *bootstrap_base_url;
        struct cfg_loc bootstrap_base_url_loc;
        char *bootstrap_file_url;
        struct cfg_loc bootstrap_file_url_loc;
};

/* pxeforge's own `server` section (not Image Customizer's): how `pxeforge up` serves
 * what it built. Zero/NULL members: the defaults of `pxeforge serve`. */
enum cfg_dhcp_mode {
        CFG_DHCP_UNSET,
        CFG_DHCP_PROXY,
        CFG_DHCP_AUTHORITATIVE,
        CFG_DHCP_OFF,
};

/* server.ipxe: which clients are chained to iPXE (the appliance host's ipxe package). */
enum cfg_ipxe_mode {
        CFG_IPXE_UNSET,
        CFG_IPXE_OFF,      /* no iPXE: shim and GRUB only */
        CFG_IPXE_FALLBACK, /* for the clients shim and GRUB cannot boot (BIOS; UEFI HTTP
                            * boot when the image's GRUB has no HTTP client) */
        CFG_IPXE_ALWAYS,   /* for every client (no Secure Boot) */
};
/* The name of a mode as the config writes it ("off", "fallback", "always"); NULL for
 * CFG_IPXE_UNSET. */
const char *cfg_ipxe_mode_name(enum cfg_ipxe_mode mode);
/* The mode of a name; -EINVAL for another word. */
int cfg_ipxe_mode_from_name(const char *name, enum cfg_ipxe_mode *ret);

/* server.machines.groups[]: machines picked by MAC and/or architecture, and what they
 * boot (status/groups.h applies them). */
struct cfg_machine_group {
        char **macs;   /* exact MACs or their first octets ("52:54:00"); NULL: any */
        unsigned arch; /* PXF_ARCH_* bits; 0: any */
        char *boot;    /* a served build's name, "local" or "ignore" */
        struct cfg_loc boot_loc;
        bool boot_once; /* after it reported booted: local, until `pxeforge machine reset` */
        struct cfg_loc loc;
};

/* server.machines */
struct cfg_machines {
        char *default_boot; /* of machines no group picks; NULL: the first build */
        struct cfg_loc default_loc;
        struct cfg_machine_group *groups;
        size_t n_groups;
};

struct cfg_server {
        char *interface;
        char *address; /* IPv4 */
        enum cfg_dhcp_mode dhcp;
        struct cfg_loc dhcp_loc;
        char *range_start, *range_end; /* dhcpRange.start / .end */
        char *netmask;
        char *router;
        int tftp_port, http_port; /* 1..65535; 0: unset */
        char *user;
        char *state_dir; /* where builds are kept and published */
        enum cfg_ipxe_mode ipxe;
        struct cfg_loc ipxe_loc;
        bool bios;        /* server.bios: GRUB for BIOS PXE clients in the artifacts */
        bool secure_boot; /* server.secureBoot: the chain must be signed, no iPXE for all */
        struct cfg_loc secure_boot_loc;
        /* server.bootReport: the image gets the pxeforge-boot-report unit and the PXE boot
         * menus the appliance's report URL; loc.line 0: not set (`up` then turns it on) */
        bool boot_report;
        struct cfg_loc boot_report_loc;
        /* server.status: false turns off the timeline, the status page, its API, the
         * metrics and the boot reports; loc.line 0: not set (on) */
        bool status;
        struct cfg_loc status_loc;
        struct tftpd_limits tftp; /* server.tftp; 0: the server's default */
        struct httpd_limits http; /* server.http; 0: the server's default */
        struct cfg_machines machines;
};

/* os.bootloader.resetType */
enum cfg_bootloader_reset {
        CFG_BOOTLOADER_KEEP, /* the default: keep the image's GRUB setup, add the arguments */
        CFG_BOOTLOADER_HARD_RESET,
};

/* os.imageHistory */
enum cfg_image_history {
        CFG_IMAGE_HISTORY_WRITE, /* the default: a record of the build in the image */
        CFG_IMAGE_HISTORY_NONE,
};

/* output.artifacts.items */
enum cfg_artifact {
        CFG_ARTIFACT_SHIM = 1u << 0,
        CFG_ARTIFACT_BOOTLOADER = 1u << 1,
};

/* previewFeatures pxeforge accepts (the others are refused by name). Each file of a chain
 * must list the features of the keys it sets itself; cfg_config.preview_features is the
 * union over the chain. */
enum cfg_preview {
        CFG_PREVIEW_BASE_CONFIGS = 1u << 0,
        CFG_PREVIEW_OUTPUT_ARTIFACTS = 1u << 1,
        CFG_PREVIEW_OUTPUT_SELINUX_POLICY = 1u << 2,
        CFG_PREVIEW_REMOVE_PACKAGE_MANAGER = 1u << 3,
        CFG_PREVIEW_TOOLS_DIR = 1u << 4,
        CFG_PREVIEW_DISTRO_VERSION = 1u << 5,
        CFG_PREVIEW_UNSUPPORTED_DISTRO_VERSION = 1u << 6,
};

struct cfg_os {
        char *hostname;
        struct cfg_packages packages;
        struct cfg_file *additional_files;
        size_t n_additional_files;
        struct cfg_dir *additional_dirs;
        size_t n_additional_dirs;
        struct cfg_user *users;
        size_t n_users;
        struct cfg_group *groups;
        size_t n_groups;
        char **services_enable, **services_disable;
        struct cfg_module *modules;
        size_t n_modules;
        char **extra_command_line; /* os.kernelCommandLine.extraCommandLine */
        enum cfg_selinux_mode selinux_mode;
        struct cfg_loc selinux_mode_loc;
        enum cfg_bootloader_reset bootloader_reset;
        enum cfg_image_history image_history;
};

/* The kernel arguments os sets for the installed system: those of os.selinux.mode, then
 * os.kernelCommandLine.extraCommandLine; NULL when there are none. */
char **cfg_os_kernel_args(const struct cfg_os *os);

/* liveRoot.omit (pxeforge's own): what the live outputs leave out of the OS. */
enum cfg_omit {
        CFG_OMIT_DOCUMENTATION = 1u << 0, /* /usr/share/doc but each package's copyright */
        CFG_OMIT_MAN_PAGES = 1u << 1,     /* /usr/share/man and /usr/share/info */
        CFG_OMIT_LOCALES = 1u << 2,       /* the translations in /usr/share/locale */
};

struct cfg_config {
        char *path;      /* the config file as given */
        char *dir;       /* its directory, the base of relative paths */
        char *canonical; /* every file of the chain as canonical text (cfg_canonical_text) */
        char **files;    /* the base configs, in the order they apply (as named in messages);
                          * NULL without baseConfigs */
        unsigned preview_features; /* CFG_PREVIEW_* listed by any file of the chain */
        char *input_image_path;
        struct cfg_os os;
        struct cfg_script *post_customization;
        size_t n_post_customization;
        struct cfg_script *finalize_customization;
        size_t n_finalize_customization;
        struct cfg_live iso;
        struct cfg_pxe pxe;
        struct cfg_server server;
        char *output_image_path;
        enum cfg_image_format output_image_format;
        char *artifacts_path;      /* output.artifacts.path: a folder */
        unsigned artifacts;        /* output.artifacts.items: CFG_ARTIFACT_* */
        char *selinux_policy_path; /* output.selinuxPolicyPath: a folder */
        unsigned live_root_omit;   /* liveRoot.omit: CFG_OMIT_* */
};

/* The name of the file a location is in: loc.file, or the config itself. */
const char *cfg_loc_file(const struct cfg_config *cfg, struct cfg_loc loc);

/* One problem found in a config file. */
struct cfg_diag {
        char *file;
        unsigned line, column; /* 1-based; 0 when not tied to a place */
        char *key_path;        /* e.g. "os.users[1].password.type"; may be empty */
        char *message;
};

struct cfg_diags {
        struct cfg_diag *items;
        size_t n;
};

/* Loads and validates a config file and its baseConfigs, merged as Image Customizer merges
 * them (scalars of a later file override, lists append, relative paths resolve against
 * the file that names them). On success *ret owns a new config and 0 is returned;
 * on failure every problem found is appended to diags and -EINVAL is returned (-ENOENT,
 * -EFBIG, ... when the file itself cannot be read, also with a diag). */
int cfg_load_file(const char *path, struct cfg_config **ret, struct cfg_diags *diags);

/* Same from a buffer; name is used in messages, base_dir resolves relative paths. */
/* (len bytes are read, no NUL needed; a NULL base_dir keeps relative paths as written.) */
int cfg_load_buffer(const char *name, const char *buf, size_t len, const char *base_dir,
                    struct cfg_config **ret, struct cfg_diags *diags);

/* Checks that every file and directory the config refers to exists with the right type
 * (additional files and dirs, ssh key files, password files, scripts, package lists,
 * iso/pxe additional files). Returns 0 or -ENOENT with a diag per missing item. */
int cfg_validate_files(const struct cfg_config *cfg, struct cfg_diags *diags);

/* Reads a package-list file (`packages: [a, b]`), appending its names to *list. */
int cfg_load_package_list(const char *path, char ***list, struct cfg_diags *diags);

struct cfg_config *cfg_free(struct cfg_config *cfg);

/* The config as canonical text without the top-level sections named in skip_sections
 * (NULL-terminated; NULL skips none): one line per scalar with its key path and value,
 * the same for every way of writing the same settings (comments, indentation, quoting
 * style aside). For cache keys; the caller frees it. */
char *cfg_canonical_text(const struct cfg_config *cfg, const char *const *skip_sections);

/* Every host file or folder the config names: called with its resolved path, whether it
 * must be a folder, where it was written and its key path (e.g.
 * "os.additionalFiles[0].source"), section by section in a fixed order. */
typedef void cfg_host_path_fn(const char *path, bool is_dir, struct cfg_loc loc,
                              const char *key_path, void *userdata);
void cfg_for_each_host_path(const struct cfg_config *cfg, cfg_host_path_fn *fn, void *userdata);

/* "file:line:column: key.path: message" (parts omitted when unknown); a new string. */
char *cfg_diag_format(const struct cfg_diag *d);
void cfg_diags_clear(struct cfg_diags *diags);

/* Never NULL: "unset" for CFG_FORMAT_UNSET, "unknown" for a value out of range. */
const char *cfg_image_format_to_string(enum cfg_image_format f);
/* Returns -EINVAL for an unknown name, -EOPNOTSUPP for one of Image Customizer's formats
 * that pxeforge does not write (cfg_image_format_refusal says why). */
int cfg_image_format_from_string(const char *s, enum cfg_image_format *ret);
const char *cfg_image_format_refusal(const char *s);
bool cfg_image_format_is_disk(enum cfg_image_format f);

/* pxeforge.yaml(5) in troff, written from the schema tables that parse the file, so it
 * lists exactly the keys that are applied or refused. */
void cfg_print_manual(FILE *f, const char *version);
