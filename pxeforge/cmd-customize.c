/* pxeforge customize: the command line of a build. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "builder/builder.h"
#include "common/common.h"
#include "pxeforge/cli.h"
#include "pxeforge/commands.h"

struct customize_args {
        struct bld_options build;
        const char *config;
        const char *pxe_artifacts_dir;
        const char *selinux_policy_path;
        bool boot_report;
};

static int parse_progress(const char *option, const char *value, void *field)
{
        if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
                log_error("unknown %s '%s' (expected text or json)", option, value);
                return PXF_EXIT_USAGE;
        }
        *(bool *)field = strcmp(value, "json") == 0;
        return PXF_EXIT_OK;
}

static int parse_package_source(const char *option, const char *value, void *field)
{
        struct bld_package_sources *s = field;

        if (s->n == BLD_MAX_PACKAGE_SOURCES) {
                log_error("%s may be given at most %d times", option, BLD_MAX_PACKAGE_SOURCES);
                return PXF_EXIT_USAGE;
        }
        s->paths[s->n++] = value;
        return PXF_EXIT_OK;
}

#define ARG(m) offsetof(struct customize_args, m)

static const struct cli_option options[] = {
    {"config-file", "FILE", CLI_STRING, ARG(config), NULL, true, "the YAML configuration"},
    {"image-file", "FILE", CLI_STRING, ARG(build.image_path), NULL, false,
     "input image (overrides input.image.path)"},
    {"output-path", "PATH", CLI_STRING, ARG(build.output_path), NULL, false,
     "output file or folder (overrides output.image.path)"},
    {"output-image-file", "PATH", CLI_STRING, ARG(build.output_path), NULL, false,
     "the same as --output-path (the reference tool's name)"},
    {"output-image-format", "FMT", CLI_CUSTOM, ARG(build.output_format), cli_parse_image_format,
     false,
     "raw, qcow2, vhd, vhd-fixed, vhdx, iso, pxe-dir or pxe-tar (overrides "
     "output.image.format; default: from the output's extension: .raw .img .qcow2 .vhd .vhdx "
     ".iso .tar.gz)"},
    {"build-dir", "DIR", CLI_STRING, ARG(build.build_dir), NULL, false,
     "scratch space (default " BLD_DEFAULT_BUILD_DIR "); a failed build leaves its whole log "
     "there, failed-build-PID.log, and the error names it"},
    {"bootstrap-base-url", "URL", CLI_STRING, ARG(build.default_bootstrap_base_url), NULL, false,
     "where a bootstrap initramfs fetches image.iso when the config sets no "
     "pxe.bootstrapBaseUrl or pxe.bootstrapFileUrl"},
    {"cache-dir", "DIR", CLI_STRING, ARG(build.cache_dir), NULL, false,
     "the build cache of live outputs: the image's tree, the customized tree, the squashfs "
     "root and initramfs made from it, and the finished output, reused while the image and the "
     "settings they "
     "come from do not change (default BUILD-DIR/cache; bounded to 8 GiB, the entries used "
     "longest ago go first)"},
    {"image-tree-cache-dir", "DIR", CLI_STRING, ARG(build.image_tree_cache_dir), NULL, false,
     "where a live build keeps the input image's tree as it left the appliance, so that "
     "the next live build of the same image skips the appliance and the export (default: "
     "the build cache; several build dirs may share one; bounded as the build cache)"},
    {"rpm-source", "PATH", CLI_CUSTOM, ARG(build.sources), parse_package_source, false,
     "a package source for this build's package steps only (may be given up to 16 "
     "times). Debian and Ubuntu images: a folder of .deb files, which becomes a trusted "
     "local apt repository, or an apt source file (.list or .sources). dnf and tdnf "
     "images, as the reference tool: a folder of .rpm files (indexed by the host's "
     "createrepo_c; signature checks off), or a .repo file (its file:// and file+rel:// "
     "locations copied in). The image keeps its own sources, and none of these is left "
     "in it"},
    {"disable-base-image-rpm-repos", NULL, CLI_FLAG, ARG(build.sources.disable_image_sources), NULL,
     false,
     "the package steps use only the --rpm-source sources, not the image's own (apt "
     "sources, or /etc/yum.repos.d), which stay in the image as they were"},
    {"no-cache", NULL, CLI_FLAG, ARG(build.no_cache), NULL, false,
     "neither use nor fill the build cache (nor the image tree cache)"},
    {"progress", "FORMAT", CLI_CUSTOM, ARG(build.progress_json), parse_progress, false,
     "text (default) or json: besides the log, one JSON object a line on stderr for each "
     "step's begin and end and each artifact made, for programs to read (bench/ does)"},
    {"boot-report", NULL, CLI_FLAG, ARG(boot_report), NULL, false,
     "as server.bootReport: true: the image tells the appliance that served it when it has "
     "booted (`pxeforge up` sets it unless the config says false)"},
    {"output-pxe-artifacts-dir", "DIR", CLI_STRING, ARG(pxe_artifacts_dir), NULL, false,
     "the reference tool's older spelling of --output-path DIR --output-image-format pxe-dir"},
    {"output-selinux-policy-path", "DIR", CLI_STRING, ARG(selinux_policy_path), NULL, false,
     "copy the image's SELinux policy into DIR (overrides output.selinuxPolicyPath)"},
    /* The reference tool's flags with no meaning here, refused with the reason. */
    {"image", "IMAGE", CLI_REFUSED, 0, NULL, false,
     "the reference tool's OCI and Azure Linux inputs; pxeforge reads disk image files only: "
     "pull the image first and pass --image-file"},
    {"image-cache-dir", "DIR", CLI_REFUSED, 0, NULL, false,
     "it caches OCI downloads, and pxeforge reads disk image files only"},
    {"package-snapshot-time", "TIME", CLI_REFUSED, 0, NULL, false,
     "pin Debian packages to a date with a snapshot.debian.org apt source in the image "
     "instead"},
    {"cosi-compression-level", "LEVEL", CLI_REFUSED, 0, NULL, false,
     "pxeforge writes no COSI files"},
    {"tools-dir", "DIR", CLI_REFUSED, 0, NULL, false,
     "pxeforge runs the image's own package manager, in the image"},
    {"setfiles-context", "LABEL", CLI_REFUSED, 0, NULL, false,
     "pxeforge labels the image with its own policy's file contexts"},
    {"timestamp-file", "FILE", CLI_REFUSED, 0, NULL, false,
     "use --progress json, whose step-end lines carry each step's seconds"},
};

/* --output-pxe-artifacts-dir is --output-path with the pxe-dir format; it cannot be
 * combined with either. */
static int check(void *args)
{
        struct customize_args *a = args;

        if (!a->pxe_artifacts_dir)
                return PXF_EXIT_OK;
        if (a->build.output_path ||
            (a->build.output_format && a->build.output_format != CFG_FORMAT_PXE_DIR)) {
                log_error("--output-pxe-artifacts-dir cannot be combined with --output-path or "
                          "another --output-image-format");
                return PXF_EXIT_USAGE;
        }
        a->build.output_path = a->pxe_artifacts_dir;
        a->build.output_format = CFG_FORMAT_PXE_DIR;
        return PXF_EXIT_OK;
}

static void init(void *args)
{
        struct customize_args *a = args;

        a->build.show_progress = isatty(STDERR_FILENO);
}

static int run(void *args)
{
        struct customize_args *a = args;
        _cleanup_(cfg_freep) struct cfg_config *cfg = NULL;
        struct pxf_error err = {0};
        int r = load_config(a->config, true, &cfg);

        if (r != PXF_EXIT_OK)
                return r;
        if (a->selinux_policy_path) {
                free(cfg->selinux_policy_path);
                cfg->selinux_policy_path = pxf_path_resolve(NULL, a->selinux_policy_path);
        }
        if (a->boot_report)
                cfg->server.boot_report = true;
        a->build.cfg = cfg;
        r = bld_run(&a->build, &err);
        return build_exit_status(r, &err);
}

const struct cli_command cli_cmd_customize = {
    .name = "customize",
    .synopsis = "--config-file FILE [OPTIONS]",
    .summary = "customize a disk image from a YAML configuration",
    .description =
        "Opens a Linux disk image (raw, qcow2, vhd or vhdx; detected from its content),\n"
        "applies the configuration's `os` and `scripts` sections inside the image, and\n"
        "writes the result: a disk image, a live ISO, or PXE artifacts (a folder or a\n"
        ".tar.gz) with a full-OS or a bootstrap initramfs (see the `pxe` and `iso`\n"
        "sections). The input image is never modified; the output appears only when\n"
        "complete, and an interrupted or failed run leaves it untouched.\n",
    .options = options,
    .n_options = PXF_ELEMENTSOF(options),
    .exit_status = "0 success, 1 build failed, 2 bad command line, 3 invalid configuration, "
                   "130 interrupted.",
    .args_size = sizeof(struct customize_args),
    .init = init,
    .check = check,
    .run = run,
};
