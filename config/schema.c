/* schema: the config file format as tables, one per mapping, leaves first.
 *
 * Field names are Image Customizer's. Keys Image Customizer knows but pxeforge does not
 * implement are listed as F_UNSUPPORTED so users get a clearer message than "unknown key".
 * Rules that involve several fields of one mapping live in the check hooks below; rules
 * that span sections are in validate.c. */
#include <errno.h>
#include <string.h>

#include "common/common.h"
#include "config/config-internal.h"

_Static_assert(sizeof(enum cfg_password_type) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_module_load_mode) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_initramfs_type) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_selinux_mode) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_image_format) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_dhcp_mode) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_ipxe_mode) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_bootloader_reset) == sizeof(int), "enums are read as int");
_Static_assert(sizeof(enum cfg_image_history) == sizeof(int), "enums are read as int");

/* Why pxeforge refuses what Image Customizer offers (reused by keys, values and preview
 * features that name the same thing). */
#define NO_UKI                                                                                     \
        "pxeforge boots the kernel through the image's shim and GRUB and builds no unified "       \
        "kernel images"
#define NO_VERITY "pxeforge does not set up dm-verity (it keeps the image's partitions)"
#define NO_OCI                                                                                     \
        "pxeforge reads disk image files only; pull the image first and name it in "               \
        "input.image.path or --image-file"
#define NO_COSI  "pxeforge writes no COSI files; use raw, qcow2, vhd, vhdx, iso, pxe-dir or pxe-tar"
#define NO_KDUMP "pxeforge's live outputs carry no kdump kernel and initramfs"
#define NO_SNAPSHOT                                                                                \
        "pin Debian packages to a date with a snapshot.debian.org source in the image's apt "      \
        "sources instead (os.additionalFiles)"

const struct preview_feature cfg_preview_features[] = {
    {"base-configs", CFG_PREVIEW_BASE_CONFIGS, NULL},
    {"output-artifacts", CFG_PREVIEW_OUTPUT_ARTIFACTS, NULL},
    {"output-selinux-policy", CFG_PREVIEW_OUTPUT_SELINUX_POLICY, NULL},
    {"remove-package-manager", CFG_PREVIEW_REMOVE_PACKAGE_MANAGER, NULL},
    {"tools-dir", CFG_PREVIEW_TOOLS_DIR, NULL},
    {"preview-distro-version", CFG_PREVIEW_DISTRO_VERSION, NULL},
    {"unsupported-distro-version", CFG_PREVIEW_UNSUPPORTED_DISTRO_VERSION, NULL},
    {"uki", 0, NO_UKI},
    {"reinitialize-verity", 0, NO_VERITY},
    {"input-image-oci", 0, NO_OCI},
    {"kdump-boot-files", 0, NO_KDUMP},
    {"package-snapshot-time", 0, NO_SNAPSHOT},
    {"btrfs", 0,
     "it enables btrfs in storage.filesystems, and pxeforge keeps the image's file systems "
     "(btrfs images are customized as they are)"},
    {"inject-files", 0, "pxeforge has no inject-files command"},
    {"create", 0, "pxeforge has no create command; it customizes an existing image"},
    {NULL, 0, NULL},
};

const char *cfg_preview_name(unsigned bit)
{
        for (const struct preview_feature *p = cfg_preview_features; p->name; p++)
                if (p->bit == bit)
                        return p->name;
        return "?";
}

#define FIELD(k, kind_, type, member, ...)                                                         \
        {                                                                                          \
                .key = (k), .kind = (kind_), .off = FOFF(type, member), .c_member = #member,       \
                __VA_ARGS__                                                                        \
        }
/* A mapping whose fields live in the same structure as its parent's. */
#define INLINE(k, schema_, ...)                                                                    \
        {                                                                                          \
                .key = (k), .kind = F_SECTION, .sub = &(schema_), __VA_ARGS__                      \
        }
#define ARRAY(k, type, member, count_, item_type, schema_, ...)                                    \
        {                                                                                          \
                .key = (k), .kind = F_ARRAY, .off = FOFF(type, member), .c_member = #member,       \
                .count = FOFF(type, count_), .elem_size = sizeof(item_type), .sub = &(schema_),    \
                __VA_ARGS__                                                                        \
        }
/* An Image Customizer key pxeforge refuses, and why (one sentence, no final stop). */
#define UNSUPPORTED(k, why)                                                                        \
        {                                                                                          \
                .key = (k), .kind = F_UNSUPPORTED, .doc = (why)                                    \
        }
#define SCHEMA(fields_, ...)                                                                       \
        {                                                                                          \
                .fields = (fields_), .n_fields = PXF_ELEMENTSOF(fields_), __VA_ARGS__              \
        }

/* ---- enums -------------------------------------------------------------------------- */

static const struct enum_value password_types[] = {
    {"locked", CFG_PASSWORD_LOCKED, NULL},
    {"plain-text", CFG_PASSWORD_PLAIN_TEXT, NULL},
    {"hashed", CFG_PASSWORD_HASHED, NULL},
    {"plain-text-file", CFG_PASSWORD_PLAIN_TEXT_FILE, NULL},
    {"hashed-file", CFG_PASSWORD_HASHED_FILE, NULL},
    {NULL, 0, NULL},
};

static const struct enum_value load_modes[] = {
    {"always", CFG_MODULE_ALWAYS, NULL},
    {"auto", CFG_MODULE_AUTO, NULL},
    {"disable", CFG_MODULE_DISABLE, NULL},
    {"inherit", CFG_MODULE_INHERIT, NULL},
    {NULL, 0, NULL},
};

static const struct enum_value selinux_modes[] = {
    {"disabled", CFG_SELINUX_DISABLED, NULL},
    {"permissive", CFG_SELINUX_PERMISSIVE, NULL},
    {"enforcing", CFG_SELINUX_ENFORCING, NULL},
    {"force-enforcing", CFG_SELINUX_FORCE_ENFORCING, NULL},
    {NULL, 0, NULL},
};

const char *cfg_selinux_mode_name(enum cfg_selinux_mode mode)
{
        for (const struct enum_value *e = selinux_modes; e->name; e++)
                if (e->value == (int)mode)
                        return e->name;
        return "unset";
}

/* Image Customizer's arguments for each mode (security= picks SELinux over AppArmor,
 * which Debian's kernels start by default). */
static const char *const *selinux_args(enum cfg_selinux_mode mode)
{
        static const char *const disabled[] = {"selinux=0", NULL};
        static const char *const enabled[] = {"security=selinux", "selinux=1", NULL};
        static const char *const forced[] = {"security=selinux", "selinux=1", "enforcing=1", NULL};

        switch (mode) {
        case CFG_SELINUX_DISABLED:
                return disabled;
        case CFG_SELINUX_PERMISSIVE:
        case CFG_SELINUX_ENFORCING:
                return enabled;
        case CFG_SELINUX_FORCE_ENFORCING:
                return forced;
        case CFG_SELINUX_UNSET:
                break;
        }
        return NULL;
}

char **cfg_os_kernel_args(const struct cfg_os *os)
{
        const char *const *selinux = selinux_args(os->selinux_mode);
        char **args = NULL;

        for (size_t i = 0; selinux && selinux[i]; i++)
                pxf_strv_push(&args, selinux[i]);
        for (size_t i = 0; os->extra_command_line && os->extra_command_line[i]; i++)
                pxf_strv_push(&args, os->extra_command_line[i]);
        return args;
}

static const struct enum_value initramfs_types[] = {
    {"bootstrap", CFG_INITRAMFS_BOOTSTRAP, NULL},
    {"full-os", CFG_INITRAMFS_FULL_OS, NULL},
    {NULL, 0, NULL},
};

static const struct enum_value dhcp_modes[] = {
    {"proxy", CFG_DHCP_PROXY, NULL},
    {"authoritative", CFG_DHCP_AUTHORITATIVE, NULL},
    {"off", CFG_DHCP_OFF, NULL},
    {NULL, 0, NULL},
};

static const struct enum_value ipxe_modes[] = {
    {"off", CFG_IPXE_OFF, NULL},
    {"fallback", CFG_IPXE_FALLBACK, NULL},
    {"always", CFG_IPXE_ALWAYS, NULL},
    {NULL, 0, NULL},
};

const char *cfg_ipxe_mode_name(enum cfg_ipxe_mode mode)
{
        for (const struct enum_value *e = ipxe_modes; e->name; e++)
                if (e->value == (int)mode)
                        return e->name;
        return NULL;
}

int cfg_ipxe_mode_from_name(const char *name, enum cfg_ipxe_mode *ret)
{
        for (const struct enum_value *e = ipxe_modes; e->name; e++)
                if (strcmp(e->name, name) == 0) {
                        *ret = (enum cfg_ipxe_mode)e->value;
                        return 0;
                }
        return -EINVAL;
}

const struct enum_value cfg_format_values[] = {
    {"raw", CFG_FORMAT_RAW, NULL},
    {"qcow2", CFG_FORMAT_QCOW2, NULL},
    {"vhd", CFG_FORMAT_VHD, NULL},
    {"vhd-fixed", CFG_FORMAT_VHD_FIXED, NULL},
    {"vhdx", CFG_FORMAT_VHDX, NULL},
    {"iso", CFG_FORMAT_ISO, NULL},
    {"pxe-dir", CFG_FORMAT_PXE_DIR, NULL},
    {"pxe-tar", CFG_FORMAT_PXE_TAR, NULL},
    {"cosi", 0, NO_COSI},
    {"baremetal-image", 0, NO_COSI},
    {NULL, 0, NULL},
};

static const struct enum_value bootloader_resets[] = {
    {"hard-reset", CFG_BOOTLOADER_HARD_RESET, NULL},
    {NULL, 0, NULL},
};

static const struct enum_value image_histories[] = {
    {"none", CFG_IMAGE_HISTORY_NONE, NULL},
    {NULL, 0, NULL},
};

static const struct enum_value artifact_items[] = {
    {"shim", CFG_ARTIFACT_SHIM, NULL},
    {"bootloader", CFG_ARTIFACT_BOOTLOADER, NULL},
    {"ukis", 0, NO_UKI},
    {"uki-addons", 0, NO_UKI},
    {"verity-hash", 0, NO_VERITY},
    {NULL, 0, NULL},
};

static const struct enum_value omit_items[] = {
    {"documentation", CFG_OMIT_DOCUMENTATION, NULL},
    {"manPages", CFG_OMIT_MAN_PAGES, NULL},
    {"locales", CFG_OMIT_LOCALES, NULL},
    {NULL, 0, NULL},
};

/* ---- mapping-local rules ------------------------------------------------------------ */

/* The value of an enum key when it was read successfully. */
static bool enum_value_of(const struct yn *map, const char *key, const struct enum_value *e,
                          int *ret)
{
        const struct yn *n = cfg_yn_get(map, key);

        if (!n || n->kind != YN_SCALAR || cfg_yn_is_null(n))
                return false;
        for (size_t i = 0; e[i].name; i++)
                if (strcmp(n->value, e[i].name) == 0) {
                        *ret = e[i].value;
                        return true;
                }
        return false;
}

/* password.value: required unless locked, refused when locked, a path for *-file types. */
static void check_password(struct walk *w, const struct yn *map, void *obj, const char *path)
{
        struct cfg_password *pw = obj;
        const struct yn *value = cfg_yn_get(map, "value");
        _cleanup_free_ char *value_path = cfg_path_key(path, "value");
        int type;

        if (!enum_value_of(map, "type", password_types, &type))
                return;
        if (type == CFG_PASSWORD_LOCKED && value)
                cfg_walk_error(w, value, value_path,
                               "'value' must not be set when type is 'locked'");
        else if (type != CFG_PASSWORD_LOCKED && !value)
                cfg_walk_error(w, map, path,
                               "missing required key 'value' (required unless type is "
                               "'locked')");
        if (pw->value &&
            (type == CFG_PASSWORD_PLAIN_TEXT_FILE || type == CFG_PASSWORD_HASHED_FILE)) {
                char *resolved = pxf_path_resolve(w->base_dir, pw->value);

                free(pw->value);
                pw->value = resolved;
        }
}

/* Sorted once, so a long disable list costs O(n log n), not O(n * m). */
static void check_services(struct walk *w, const struct yn *map, void *obj, const char *path)
{
        const struct cfg_os *os = obj;
        const struct yn *disable = cfg_yn_get(map, "disable");
        _cleanup_free_ char *list_path = cfg_path_key(path, "disable");
        _cleanup_free_ const char **enabled = NULL;
        size_t n = pxf_strv_length(os->services_enable);

        if (!disable || disable->kind != YN_SEQUENCE || n == 0)
                return;
        enabled = pxf_calloc(n, sizeof(*enabled));
        memcpy(enabled, os->services_enable, n * sizeof(*enabled));
        qsort(enabled, n, sizeof(*enabled), pxf_compare_strings);
        for (size_t i = 0; i < disable->n_items; i++) {
                const struct yn *item = disable->items[i];
                _cleanup_free_ char *item_path = NULL;

                if (item->kind != YN_SCALAR ||
                    !bsearch(&item->value, enabled, n, sizeof(*enabled), pxf_compare_strings))
                        continue;
                item_path = cfg_path_index(list_path, i);
                cfg_walk_error(w, item, item_path, "service '%s' is both enabled and disabled",
                               item->value);
        }
}

static void check_module(struct walk *w, const struct yn *map, void *obj, const char *path)
{
        const struct cfg_module *m = obj;
        const struct yn *options = cfg_yn_get(map, "options");
        _cleanup_free_ char *options_path = cfg_path_key(path, "options");

        if (m->load_mode == CFG_MODULE_DISABLE && options)
                cfg_walk_error(w, options, options_path,
                               "'options' cannot be set when loadMode is 'disable'");
}

static int compare_name_nodes(const void *a, const void *b)
{
        const struct yn *x = *(const struct yn *const *)a, *y = *(const struct yn *const *)b;
        int c = strcmp(x->value, y->value);

        return c ? c : cfg_yn_before(x, y) ? -1 : 1;
}

/* A module named twice in one file is refused (Image Customizer's rule); a later file of
 * the chain may name it again. Sorted, so a long list costs O(n log n). */
static void check_os(struct walk *w, const struct yn *map, void *obj, const char *path)
{
        const struct yn *modules = cfg_yn_get(map, "modules");
        _cleanup_free_ const struct yn **names = NULL;
        size_t n = 0;

        (void)obj;
        if (!modules || modules->kind != YN_SEQUENCE)
                return;
        names = pxf_calloc(modules->n_items, sizeof(*names));
        for (size_t i = 0; i < modules->n_items; i++) {
                const struct yn *name = cfg_yn_get(modules->items[i], "name");

                if (name && name->kind == YN_SCALAR)
                        names[n++] = name;
        }
        qsort(names, n, sizeof(*names), compare_name_nodes);
        for (size_t i = 1; i < n; i++) {
                _cleanup_free_ char *at = NULL;

                if (strcmp(names[i]->value, names[i - 1]->value) != 0)
                        continue;
                at = cfg_path_key(path, "modules");
                cfg_walk_error(w, names[i], at, "module '%s' is listed twice (first at line %u)",
                               names[i]->value, names[i - 1]->line);
        }
}

/* ---- tables ------------------------------------------------------------------------- */

static const struct field package_list_fields[] = {
    FIELD("packages", F_STRV, struct cfg_package_list, packages,
          .doc = "the packages a *Lists file names (its only key)"),
};
static const char *const package_list_required[] = {"packages", NULL};
const struct schema cfg_schema_package_list =
    SCHEMA(package_list_fields, .required = package_list_required);

static const struct field base_config_fields[] = {
    FIELD("path", F_PATH, struct cfg_base_ref, path,
          .doc = "a base config file (relative to the file that names it; required)"),
};
static const char *const base_config_required[] = {"path", NULL};
const struct schema cfg_schema_base_config =
    SCHEMA(base_config_fields, .required = base_config_required);

static const struct field packages_fields[] = {
    FIELD("updateExistingPackages", F_BOOL, struct cfg_packages, update_existing,
          .doc = "upgrade every installed package first (apt-get upgrade, dnf upgrade)"),
    FIELD("install", F_STRV, struct cfg_packages, install,
          .doc = "packages to install, with the image's own package manager and network access"),
    FIELD("remove", F_STRV, struct cfg_packages, remove, .doc = "packages to remove"),
    FIELD("update", F_STRV, struct cfg_packages, update, .doc = "packages to upgrade"),
    FIELD("installLists", F_PATHV, struct cfg_packages, install_lists,
          .loc = FOFF(struct cfg_packages, install_lists_locs),
          .doc = "YAML files with a `packages` list to install (relative to the config)"),
    FIELD("removeLists", F_PATHV, struct cfg_packages, remove_lists,
          .loc = FOFF(struct cfg_packages, remove_lists_locs),
          .doc = "YAML files with a `packages` list to remove"),
    FIELD("updateLists", F_PATHV, struct cfg_packages, update_lists,
          .loc = FOFF(struct cfg_packages, update_lists_locs),
          .doc = "YAML files with a `packages` list to upgrade"),
    FIELD("removePackageManager", F_BOOL, struct cfg_packages, remove_package_manager,
          .loc = FOFF(struct cfg_packages, remove_package_manager_loc),
          .preview = CFG_PREVIEW_REMOVE_PACKAGE_MANAGER,
          .doc = "remove the package manager from the image after every other step (Debian: "
                 "apt and its lists and caches, then dpkg's database stays for the record); "
                 "disk outputs only"),
    UNSUPPORTED("snapshotTime", NO_SNAPSHOT),
};
static const struct schema packages_schema = SCHEMA(packages_fields);

#define FILE_FIELDS(destination_check)                                                             \
        FIELD("source", F_PATH, struct cfg_file, source, .loc = FOFF(struct cfg_file, source_loc), \
              .doc = "a file on the host to copy (relative to the config); or `content`"),         \
            FIELD("content", F_STRING, struct cfg_file, content,                                   \
                  .doc = "the file's text, given inline; or `source`"),                            \
            FIELD("destination", F_STRING, struct cfg_file, destination,                           \
                  .check = (destination_check), .doc = "where the file goes (required)"),          \
            FIELD("permissions", F_MODE, struct cfg_file, permissions,                             \
                  .has = FOFF(struct cfg_file, has_permissions),                                   \
                  .doc = "its mode, octal (\"0644\")")

static const char *const file_required[] = {"destination", NULL};
static const struct field os_file_fields[] = {FILE_FIELDS(cfg_check_absolute)};
static const struct schema os_file_schema =
    SCHEMA(os_file_fields, .required = file_required, .one_of = {"source", "content"},
           .loc = FOFF(struct cfg_file, loc));
static const struct field live_file_fields[] = {FILE_FIELDS(cfg_check_live_destination)};
static const struct schema live_file_schema =
    SCHEMA(live_file_fields, .required = file_required, .one_of = {"source", "content"},
           .loc = FOFF(struct cfg_file, loc));

static const struct field dir_fields[] = {
    FIELD("source", F_PATH, struct cfg_dir, source, .loc = FOFF(struct cfg_dir, source_loc),
          .doc = "a folder on the host to copy with everything in it (required)"),
    FIELD("destination", F_STRING, struct cfg_dir, destination, .check = cfg_check_absolute,
          .doc = "where it goes in the image, absolute (required)"),
    FIELD("newDirPermissions", F_MODE, struct cfg_dir, new_dir_permissions,
          .has = FOFF(struct cfg_dir, has_new_dir_permissions),
          .doc = "mode of the folders it creates"),
    FIELD("mergedDirPermissions", F_MODE, struct cfg_dir, merged_dir_permissions,
          .has = FOFF(struct cfg_dir, has_merged_dir_permissions),
          .doc = "mode given to folders that exist already"),
    FIELD("childFilePermissions", F_MODE, struct cfg_dir, child_file_permissions,
          .has = FOFF(struct cfg_dir, has_child_file_permissions),
          .doc = "mode of the files it copies"),
};
static const char *const dir_required[] = {"source", "destination", NULL};
static const struct schema dir_schema =
    SCHEMA(dir_fields, .required = dir_required, .loc = FOFF(struct cfg_dir, loc));

static const struct field password_fields[] = {
    FIELD("type", F_ENUM, struct cfg_password, type, .enums = password_types,
          .doc = "how value is given (required)"),
    FIELD("value", F_STRING, struct cfg_password, value,
          .loc = FOFF(struct cfg_password, value_loc),
          .doc = "the password, its crypt hash, or a file holding either (required unless locked); "
                 "clear text is hashed with SHA-512 crypt on the host"),
};
static const char *const password_required[] = {"type", NULL};
static const struct schema password_schema =
    SCHEMA(password_fields, .required = password_required, .check = check_password);

static const struct field user_fields[] = {
    FIELD("name", F_STRING, struct cfg_user, name, .check = cfg_check_account_name,
          .doc = "the account name (required); created if missing, changed if present"),
    FIELD("uid", F_ID, struct cfg_user, uid, .has = FOFF(struct cfg_user, has_uid),
          .doc = "its user ID"),
    FIELD("password", F_SECTION, struct cfg_user, password, .sub = &password_schema,
          .has = FOFF(struct cfg_user, has_password), .doc = "its password"),
    FIELD("passwordExpiresDays", F_DAYS, struct cfg_user, password_expires_days,
          .has = FOFF(struct cfg_user, has_password_expires_days),
          .doc = "days until the password must be changed (chage -M), -1 for never"),
    FIELD("sshPublicKeys", F_STRV, struct cfg_user, ssh_public_keys,
          .doc = "lines for ~/.ssh/authorized_keys"),
    FIELD("sshPublicKeyPaths", F_PATHV, struct cfg_user, ssh_public_key_paths,
          .loc = FOFF(struct cfg_user, ssh_public_key_path_locs),
          .doc = "host files with such lines (relative to the config)"),
    FIELD("primaryGroup", F_STRING, struct cfg_user, primary_group, .doc = "its primary group"),
    FIELD("secondaryGroups", F_STRV, struct cfg_user, secondary_groups,
          .doc = "further groups it joins"),
    FIELD("startupCommand", F_STRING, struct cfg_user, startup_command, .doc = "its login shell"),
    FIELD("homeDirectory", F_STRING, struct cfg_user, home_directory, .check = cfg_check_absolute,
          .doc = "its home folder, absolute"),
};
static const char *const name_required[] = {"name", NULL};
static const struct schema user_schema =
    SCHEMA(user_fields, .required = name_required, .loc = FOFF(struct cfg_user, loc));

static const struct field group_fields[] = {
    FIELD("name", F_STRING, struct cfg_group, name, .check = cfg_check_account_name,
          .doc = "the group's name (required)"),
    FIELD("gid", F_ID, struct cfg_group, gid, .has = FOFF(struct cfg_group, has_gid),
          .doc = "its group ID"),
};
static const struct schema group_schema =
    SCHEMA(group_fields, .required = name_required, .loc = FOFF(struct cfg_group, loc));

static const struct field services_fields[] = {
    FIELD("enable", F_STRV, struct cfg_os, services_enable,
          .doc = "systemd units to enable (systemctl enable in the image)"),
    FIELD("disable", F_STRV, struct cfg_os, services_disable, .doc = "systemd units to disable"),
};
static const struct schema services_schema = SCHEMA(services_fields, .check = check_services);

static const struct field module_fields[] = {
    FIELD("name", F_STRING, struct cfg_module, name, .doc = "the kernel module (required)"),
    FIELD("loadMode", F_ENUM, struct cfg_module, load_mode, .enums = load_modes,
          .doc = "always: loaded at boot (modules-load.d); auto: loaded when hardware asks, "
                 "blacklist lines removed; disable: blacklisted; inherit: as the image has it"),
    FIELD("options", F_OPTIONS, struct cfg_module, options,
          .doc = "module parameters as a mapping of name: value (modprobe.d), not with disable"),
};
static const struct schema module_schema =
    SCHEMA(module_fields, .required = name_required, .loc = FOFF(struct cfg_module, loc),
           .check = check_module);

static const struct field os_cmdline_fields[] = {
    FIELD("extraCommandLine", F_CMDLINE, struct cfg_os, extra_command_line,
          .doc = "kernel arguments the installed system boots with (a string or a list)"),
};
static const struct schema os_cmdline_schema = SCHEMA(os_cmdline_fields);

static const struct field selinux_fields[] = {
    FIELD("mode", F_ENUM, struct cfg_os, selinux_mode, .enums = selinux_modes,
          .loc = FOFF(struct cfg_os, selinux_mode_loc),
          .doc = "the SELinux mode the image boots in: /etc/selinux/config and the kernel "
                 "arguments; for any mode but disabled the image needs a policy (Debian: "
                 "selinux-policy-default) and its files are labelled"),
};
static const struct schema selinux_schema = SCHEMA(selinux_fields);

static const struct field bootloader_fields[] = {
    FIELD("resetType", F_ENUM, struct cfg_os, bootloader_reset, .enums = bootloader_resets,
          .doc = "hard-reset: the GRUB configuration is written anew by the image's own tools "
                 "(grub-install, update-grub) with the config's kernel arguments, instead of "
                 "adding them to what the image has"),
};
static const struct schema bootloader_schema = SCHEMA(bootloader_fields);

static const struct field os_fields[] = {
    FIELD("hostname", F_STRING, struct cfg_os, hostname, .check = cfg_check_hostname,
          .doc = "the host name (/etc/hostname and the 127.0.1.1 line of /etc/hosts)"),
    FIELD("packages", F_SECTION, struct cfg_os, packages, .sub = &packages_schema,
          .doc =
              "package operations, in the order updateExistingPackages, remove, install, update"),
    ARRAY("additionalFiles", struct cfg_os, additional_files, n_additional_files, struct cfg_file,
          os_file_schema, .doc = "files to add"),
    ARRAY("additionalDirs", struct cfg_os, additional_dirs, n_additional_dirs, struct cfg_dir,
          dir_schema, .doc = "folders to add"),
    ARRAY("users", struct cfg_os, users, n_users, struct cfg_user, user_schema,
          .doc = "accounts to create or change"),
    ARRAY("groups", struct cfg_os, groups, n_groups, struct cfg_group, group_schema,
          .doc = "groups to create"),
    INLINE("services", services_schema, .doc = "systemd units to enable or disable"),
    ARRAY("modules", struct cfg_os, modules, n_modules, struct cfg_module, module_schema,
          .doc = "kernel modules to load, blacklist or configure"),
    INLINE("kernelCommandLine", os_cmdline_schema,
           .doc = "the installed system's kernel arguments"),
    INLINE("selinux", selinux_schema, .doc = "SELinux"),
    INLINE("bootloader", bootloader_schema, .doc = "the boot loader's configuration"),
    FIELD("imageHistory", F_ENUM, struct cfg_os, image_history, .enums = image_histories,
          .doc = "by default the build leaves a record of itself in "
                 "/usr/share/image-customizer/history.json (a JSON list, one entry per build); "
                 "none: no record"),
    UNSUPPORTED("uki", NO_UKI),
    UNSUPPORTED("overlays", "pxeforge sets up no overlay file systems; add the mount units "
                            "with os.additionalFiles"),
};
static const struct schema os_schema = SCHEMA(os_fields, .check = check_os);

static const struct field live_cmdline_fields[] = {
    FIELD("extraCommandLine", F_CMDLINE, struct cfg_live, extra_command_line,
          .doc = "kernel arguments of the live boot (a string or a list)"),
};
static const struct schema live_cmdline_schema = SCHEMA(live_cmdline_fields);

#define LIVE_FIELDS(type, prefix)                                                                  \
        FIELD(                                                                                     \
            "initramfsType", F_ENUM, type, prefix initramfs_type, .enums = initramfs_types,        \
            .loc = FOFF(type, prefix initramfs_type_loc),                                          \
            .doc =                                                                                 \
                "bootstrap: a small dracut initramfs that fetches the OS as a live ISO; full-os: " \
                "the whole OS as the initramfs (default for pxe: full-os; for iso: bootstrap)"),   \
            INLINE("kernelCommandLine", live_cmdline_schema,                                       \
                   .doc = "the live boot's kernel arguments"),                                     \
            ARRAY("additionalFiles", type, prefix additional_files, prefix n_additional_files,     \
                  struct cfg_file, live_file_schema,                                               \
                  .doc = "files added to the output (the ISO's tree or the PXE folder), at "       \
                         "relative destinations"),                                                 \
            UNSUPPORTED("kdumpBootFiles", NO_KDUMP)

static const struct field iso_fields[] = {LIVE_FIELDS(struct cfg_live, )};
static const struct schema iso_schema = SCHEMA(iso_fields);

_Static_assert(offsetof(struct cfg_pxe, live) == 0, "kernelCommandLine is walked in place");
static const struct field pxe_fields[] = {
    LIVE_FIELDS(struct cfg_pxe, live.),
    FIELD("bootstrapBaseUrl", F_STRING, struct cfg_pxe, bootstrap_base_url, .check = cfg_check_url,
          .loc = FOFF(struct cfg_pxe, bootstrap_base_url_loc),
          .doc = "bootstrap: the URL of the folder that serves image.iso (http, https, ftp, tftp "
                 "or nfs); the tool appends /image.iso"),
    FIELD("bootstrapFileUrl", F_STRING, struct cfg_pxe, bootstrap_file_url,
          .check = cfg_check_file_url, .loc = FOFF(struct cfg_pxe, bootstrap_file_url_loc),
          .doc = "bootstrap: the URL of the ISO itself; its last path element names the ISO in the "
                 "folder. Not with bootstrapBaseUrl"),
};
static const struct schema pxe_schema = SCHEMA(pxe_fields);

static const struct field script_fields[] = {
    FIELD("path", F_PATH, struct cfg_script, path, .loc = FOFF(struct cfg_script, path_loc),
          .doc = "a script file on the host (relative to the config); or `content`"),
    FIELD("content", F_STRING, struct cfg_script, content,
          .doc = "the script's text, given inline; or `path`"),
    FIELD("interpreter", F_STRING, struct cfg_script, interpreter,
          .doc = "the program that runs it (default: the file runs itself; /bin/sh for content)"),
    FIELD("arguments", F_STRV, struct cfg_script, arguments, .doc = "its arguments"),
    FIELD("environmentVariables", F_ENV, struct cfg_script, environment,
          .doc = "a mapping of NAME: value set for it"),
    FIELD("name", F_STRING, struct cfg_script, name, .doc = "a name for the log"),
};
static const struct schema script_schema =
    SCHEMA(script_fields, .one_of = {"path", "content"}, .loc = FOFF(struct cfg_script, loc));

static const struct field scripts_fields[] = {
    ARRAY("postCustomization", struct cfg_config, post_customization, n_post_customization,
          struct cfg_script, script_schema, .doc = "scripts run in the image after the os steps"),
    ARRAY("finalizeCustomization", struct cfg_config, finalize_customization,
          n_finalize_customization, struct cfg_script, script_schema,
          .doc = "scripts run in the image last"),
};
static const struct schema scripts_schema = SCHEMA(scripts_fields);

static const struct field input_image_fields[] = {
    FIELD("path", F_PATH, struct cfg_config, input_image_path,
          .doc = "the input disk image: raw, qcow2, vhd or vhdx, told apart by content (relative "
                 "to the config); --image-file overrides it"),
    UNSUPPORTED("oci", NO_OCI),
    UNSUPPORTED("azureLinux", NO_OCI),
};
static const struct schema input_image_schema = SCHEMA(input_image_fields);
static const struct field input_fields[] = {
    INLINE("image", input_image_schema, .doc = "the input image")};
static const struct schema input_schema = SCHEMA(input_fields);

static const struct field output_image_fields[] = {
    FIELD("path", F_PATH, struct cfg_config, output_image_path,
          .doc = "the output file or folder (relative to the config); --output-path overrides it"),
    FIELD("format", F_ENUM, struct cfg_config, output_image_format, .enums = cfg_format_values,
          .doc = "the output format; --output-image-format overrides it; default: the output's "
                 "extension"),
    UNSUPPORTED("cosi", NO_COSI),
};
static const struct schema output_image_schema = SCHEMA(output_image_fields);

static const struct field artifacts_fields[] = {
    FIELD("path", F_PATH, struct cfg_config, artifacts_path,
          .doc = "the folder the items are copied to, each in a subfolder of its name "
                 "(required)"),
    FIELD("items", F_FLAGS, struct cfg_config, artifacts, .enums = artifact_items,
          .doc = "shim: the image's shim (shim/bootx64.efi); bootloader: its GRUB EFI binary "
                 "(bootloader/grubx64.efi) (required)"),
};
static const char *const artifacts_required[] = {"path", "items", NULL};
static const struct schema artifacts_schema =
    SCHEMA(artifacts_fields, .required = artifacts_required);

static const struct field output_fields[] = {
    INLINE("image", output_image_schema, .doc = "the output"),
    INLINE("artifacts", artifacts_schema, .preview = CFG_PREVIEW_OUTPUT_ARTIFACTS,
           .doc = "boot files copied out of the customized image, beside the output"),
    FIELD("selinuxPolicyPath", F_PATH, struct cfg_config, selinux_policy_path,
          .preview = CFG_PREVIEW_OUTPUT_SELINUX_POLICY,
          .doc = "a folder the image's SELinux policy (/etc/selinux/TYPE) is copied to; it must "
                 "not exist as a file"),
};
static const struct schema output_schema = SCHEMA(output_fields);

static const struct field dhcp_range_fields[] = {
    FIELD("start", F_STRING, struct cfg_server, range_start, .check = cfg_check_ipv4,
          .doc = "first address handed out (required)"),
    FIELD("end", F_STRING, struct cfg_server, range_end, .check = cfg_check_ipv4,
          .doc = "last address handed out (required)"),
};
static const char *const dhcp_range_required[] = {"start", "end", NULL};
static const struct schema dhcp_range_schema =
    SCHEMA(dhcp_range_fields, .required = dhcp_range_required);

/* The servers' limits, from their own lists (TFTPD_LIMITS, HTTPD_LIMITS). */
#define LIMIT_FIELD(type, field, key, flag, least, most, def, what)                                \
        FIELD(key, F_UINT, type, field, .min = (least), .max = (most),                             \
              .doc = what " (" PXF_STRINGIFY(least) " to " PXF_STRINGIFY(                          \
                  most) ", default " PXF_STRINGIFY(def) "; also --" flag ")"),
#define TFTP_FIELD(...) LIMIT_FIELD(struct tftpd_limits, __VA_ARGS__)
#define HTTP_FIELD(...) LIMIT_FIELD(struct httpd_limits, __VA_ARGS__)
static const struct field tftp_fields[] = {TFTPD_LIMITS(TFTP_FIELD)};
static const struct schema tftp_schema = SCHEMA(tftp_fields);
static const struct field http_fields[] = {HTTPD_LIMITS(HTTP_FIELD)};
static const struct schema http_schema = SCHEMA(http_fields);

static const struct enum_value client_arches[] = {
    {"bios", PXF_ARCH_BIOS, NULL},
    {"efi-x64", PXF_ARCH_EFI_X64, NULL},
    {"efi-x64-http", PXF_ARCH_EFI_X64_HTTP, NULL},
    {"efi-arm64", PXF_ARCH_EFI_ARM64, NULL},
    {"efi-arm64-http", PXF_ARCH_EFI_ARM64_HTTP, NULL},
    {NULL, 0, NULL},
};

static void check_machine_group(struct walk *w, const struct yn *map, void *obj, const char *path)
{
        (void)obj;
        if (!cfg_yn_get(map, "macs") && !cfg_yn_get(map, "arch"))
                cfg_walk_error(w, map, path,
                               "a group needs 'macs' or 'arch' (or both) to say which machines "
                               "it holds; machines no group holds boot server.machines.default");
}

static const char *const machine_group_required[] = {"boot", NULL};
static const struct field machine_group_fields[] = {
    FIELD("macs", F_STRV, struct cfg_machine_group, macs, .check = cfg_check_mac_pattern,
          .doc = "the machines' MAC addresses, or their first octets (52:54:00: every MAC that "
                 "starts so)"),
    FIELD("arch", F_FLAGS, struct cfg_machine_group, arch, .enums = client_arches,
          .doc = "the client architectures (DHCP option 93) it holds: bios, efi-x64, "
                 "efi-x64-http, efi-arm64, efi-arm64-http; with macs, a machine must match "
                 "both"),
    FIELD("boot", F_STRING, struct cfg_machine_group, boot, .check = cfg_check_boot_target,
          .loc = FOFF(struct cfg_machine_group, boot_loc),
          .doc = "what they boot: a served build's name (`serve --artifacts NAME=DIR`, `up` "
                 "with a config per build), local (the boot loader exits: the firmware boots "
                 "the disk) or ignore (no DHCP offer)"),
    FIELD("bootOnce", F_BOOL, struct cfg_machine_group, boot_once,
          .doc = "once a machine reported booted (server.bootReport), it boots local until "
                 "`pxeforge machine reset MAC`"),
};
static const struct schema machine_group_schema =
    SCHEMA(machine_group_fields, .required = machine_group_required,
           .loc = FOFF(struct cfg_machine_group, loc), .check = check_machine_group);

static const struct field machines_fields[] = {
    FIELD("default", F_STRING, struct cfg_machines, default_boot, .check = cfg_check_boot_target,
          .loc = FOFF(struct cfg_machines, default_loc),
          .doc = "what machines no group holds boot: a build's name, local or ignore (default: "
                 "the first build)"),
    ARRAY("groups", struct cfg_machines, groups, n_groups, struct cfg_machine_group,
          machine_group_schema,
          .doc = "machine groups, the first that holds a machine decides what it boots"),
};
static const struct schema machines_schema = SCHEMA(machines_fields);

/* pxeforge's own: how `pxeforge up` serves the artifacts (the flags of `pxeforge serve`). */
static const struct field server_fields[] = {
    FIELD("interface", F_STRING, struct cfg_server, interface, .check = cfg_check_interface,
          .doc = "the network to serve; required for DHCP"),
    FIELD("address", F_STRING, struct cfg_server, address, .check = cfg_check_ipv4,
          .doc = "the IPv4 address to serve on (default: the interface's)"),
    FIELD("dhcp", F_ENUM, struct cfg_server, dhcp, .enums = dhcp_modes,
          .loc = FOFF(struct cfg_server, dhcp_loc),
          .doc = "proxy beside the LAN's DHCP server (default), authoritative on an isolated "
                 "network, or off"),
    INLINE("dhcpRange", dhcp_range_schema, .doc = "authoritative: the addresses to hand out"),
    FIELD("netmask", F_STRING, struct cfg_server, netmask, .check = cfg_check_ipv4,
          .doc = "of the range (default: the interface's)"),
    FIELD("router", F_STRING, struct cfg_server, router, .check = cfg_check_ipv4,
          .doc = "authoritative: the default gateway to hand out (default: none)"),
    FIELD("tftpPort", F_PORT, struct cfg_server, tftp_port, .doc = "TFTP port (default 69)"),
    FIELD("httpPort", F_PORT, struct cfg_server, http_port, .doc = "HTTP port (default 80)"),
    FIELD("user", F_STRING, struct cfg_server, user, .check = cfg_check_account_name,
          .doc = "the unprivileged user pxeforge-server (TFTP, HTTP) runs as (default "
                 "pxeforge, the package's system user; nobody when it is missing)"),
    FIELD("stateDir", F_PATH, struct cfg_server, state_dir,
          .doc = "where builds are kept (default /var/lib/pxeforge/<config name>)"),
    FIELD("ipxe", F_ENUM, struct cfg_server, ipxe, .enums = ipxe_modes,
          .loc = FOFF(struct cfg_server, ipxe_loc),
          .doc = "off (default): every client boots shim and GRUB from the image; fallback: the "
                 "artifacts carry iPXE (the host's ipxe package) for the clients those cannot boot "
                 "(BIOS, and UEFI HTTP boot when the image's GRUB has no HTTP client); always: "
                 "every client is chained to iPXE, which loads kernel and initramfs over HTTP "
                 "(Debian's iPXE is not signed: no Secure Boot)"),
    FIELD("bios", F_BOOL, struct cfg_server, bios,
          .doc = "the artifacts carry GRUB for BIOS machines (grub/i386-pc/core.0), made with "
                 "the image's grub-pc-bin, else this host's (default false)"),
    FIELD("secureBoot", F_BOOL, struct cfg_server, secure_boot,
          .loc = FOFF(struct cfg_server, secure_boot_loc),
          .doc = "the machines boot with Secure Boot on: the build refuses a boot chain "
                 "(shim, GRUB, kernel) with an unsigned file, and ipxe: always (default false)"),
    FIELD("bootReport", F_BOOL, struct cfg_server, boot_report,
          .loc = FOFF(struct cfg_server, boot_report_loc),
          .doc = "the image gets a unit (pxeforge-boot-report.service) that, once the system "
                 "is up, tells the appliance it booted (MAC, host name, kernel, boot time), "
                 "and the PXE boot menus say where (pxeforge.report=URL on the kernel command "
                 "line; images booted any other way never report); default true for `pxeforge "
                 "up`, false for `pxeforge customize` (also --boot-report)"),
    FIELD("status", F_BOOL, struct cfg_server, status, .loc = FOFF(struct cfg_server, status_loc),
          .doc = "the appliance keeps each machine's boot timeline and serves it under "
                 "/.pxeforge/ on its HTTP port: a status page, a JSON API, Prometheus metrics, "
                 "and the booted systems' reports (default true; false: none of them, also "
                 "`pxeforge serve --no-status`)"),
    FIELD("machines", F_SECTION, struct cfg_server, machines, .sub = &machines_schema,
          .doc = "which machine boots which build, its disk, or nothing"),
    FIELD("tftp", F_SECTION, struct cfg_server, tftp, .sub = &tftp_schema,
          .doc = "limits and timeouts of the TFTP server"),
    FIELD("http", F_SECTION, struct cfg_server, http, .sub = &http_schema,
          .doc = "limits and timeouts of the HTTP server"),
};
static const struct schema server_schema = SCHEMA(server_fields);

/* pxeforge's own: cuts of the live outputs' root that a config asks for. */
static const struct field live_root_fields[] = {
    FIELD("omit", F_FLAGS, struct cfg_config, live_root_omit, .enums = omit_items,
          .doc = "what the live outputs (iso, pxe-dir, pxe-tar) leave out, after every "
                 "customization: documentation (/usr/share/doc, but each package's copyright "
                 "file), manPages (/usr/share/man and /usr/share/info), locales (the "
                 "translations in /usr/share/locale); default: nothing"),
};
static const struct schema live_root_schema = SCHEMA(live_root_fields);

static const struct field root_fields[] = {
    INLINE("input", input_schema, .doc = "what to customize"),
    FIELD("os", F_SECTION, struct cfg_config, os, .sub = &os_schema,
          .doc = "the customization of the operating system"),
    INLINE("scripts", scripts_schema, .doc = "scripts run in the image"),
    FIELD("iso", F_SECTION, struct cfg_config, iso, .sub = &iso_schema,
          .doc = "the live ISO output (--output-image-format iso)"),
    FIELD("pxe", F_SECTION, struct cfg_config, pxe, .sub = &pxe_schema,
          .doc = "the PXE outputs (pxe-dir, pxe-tar)"),
    FIELD("server", F_SECTION, struct cfg_config, server, .sub = &server_schema,
          .doc = "pxeforge's own: how `pxeforge up` serves the artifacts (the options of `pxeforge "
                 "serve`)"),
    INLINE("liveRoot", live_root_schema,
           .doc = "pxeforge's own: a smaller root for the live outputs, for machines with "
                  "little memory"),
    INLINE("output", output_schema, .doc = "what to write"),
    {.key = "previewFeatures",
     .kind = F_PREVIEW,
     .doc = "Image Customizer's preview features this file uses. pxeforge accepts "
            "base-configs, output-artifacts, output-selinux-policy, remove-package-manager, "
            "tools-dir (for the flag it refuses), preview-distro-version and "
            "unsupported-distro-version (pxeforge builds any Debian release and warns about "
            "those its tests do not prove); it refuses the others by name"},
    {.key = "baseConfigs",
     .kind = F_BASES,
     .preview = CFG_PREVIEW_BASE_CONFIGS,
     .doc = "configs this one builds on, each {path: FILE} relative to this file, applied "
            "first: a later file's values override theirs, its lists (packages, users, "
            "files, modules, scripts, kernel arguments) follow theirs"},
    UNSUPPORTED("storage", "pxeforge keeps the image's partitions and file systems as they are "
                           "(no repartitioning, no verity); change them before pxeforge"),
};
const struct schema cfg_schema_root = SCHEMA(root_fields);
