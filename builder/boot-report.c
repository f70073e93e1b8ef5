/* server.bootReport: the unit that tells the appliance a machine has booted.
 *
 * The image gets a small bash script and a systemd unit that runs it once the system is
 * up. It is generic: where to report is on the kernel command line (pxeforge.report=URL,
 * which the PXE boot menus carry, artifacts/grub-cfg.c), so the same image booted from a
 * disk or another server stays silent (ConditionKernelCommandLine). The script is
 * boot-report.sh; what it sends is what status/report.h reads. */
#include <string.h>

#include "boot-report.h" /* boot-report.sh as the C string boot_report_sh */
#include "builder/builder-internal.h"

#define SCRIPT_PATH "/usr/lib/pxeforge/boot-report"
#define UNIT_NAME   "pxeforge-boot-report.service"
#define UNIT_PATH   "/etc/systemd/system/" UNIT_NAME
#define WANTS_PATH  "/etc/systemd/system/multi-user.target.wants/" UNIT_NAME

static const char unit[] =
    "# Written by pxeforge (server.bootReport): tells the appliance that served this boot\n"
    "# that the system is up. Silent unless the kernel command line names the appliance.\n"
    "[Unit]\n"
    "Description=Tell the pxeforge appliance this machine has booted\n"
    "ConditionKernelCommandLine=pxeforge.report\n"
    "Wants=network-online.target\n"
    "After=network-online.target\n"
    "\n"
    "[Service]\n"
    "Type=oneshot\n"
    "ExecStart=" SCRIPT_PATH "\n"
    "TimeoutStartSec=300\n"
    "# what it said, on the console too: who watches a rack's serial lines sees it\n"
    "StandardOutput=journal+console\n"
    "StandardError=journal+console\n"
    "DynamicUser=yes\n"
    "\n"
    "[Install]\n"
    "WantedBy=multi-user.target\n";

static int boot_report_apply(struct bld_guest *gs, const struct cfg_config *cfg,
                             struct pxf_error *err)
{
        int r = bld_guest_mkdir_p(gs, "/usr/lib/pxeforge", 0755, err);

        (void)cfg;
        if (r >= 0)
                r = bld_guest_write(gs, SCRIPT_PATH, boot_report_sh, strlen(boot_report_sh), 0755,
                                    err);
        if (r >= 0)
                r = bld_guest_write(gs, UNIT_PATH, unit, strlen(unit), 0644, err);
        if (r >= 0)
                r = bld_guest_mkdir_p(gs, "/etc/systemd/system/multi-user.target.wants", 0755, err);
        if (r >= 0)
                r = bld_guest_symlink(gs, UNIT_PATH, WANTS_PATH, err);
        return r < 0 ? pxf_error_prefix(err, "server.bootReport") : 0;
}

static bool boot_report_wanted(const struct cfg_config *cfg)
{
        return cfg->server.boot_report;
}

const struct bld_step bld_step_boot_report = {"boot report unit", boot_report_wanted,
                                              boot_report_apply};
