/* dhcp-log: what dnsmasq's log (log-dhcp, one line at a time) says about each machine, as
 * events for the boot timeline (timeline.h).
 *
 * What it reads: the lines of one exchange share a transaction number; a machine's MAC
 * comes with the DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK and PXE (proxy) lines, its
 * address with all but DISCOVER, its architecture with "vendor class: PXEClient:Arch:N"
 * (or HTTPClient, UEFI HTTP boot) and its host name with "client provides name:". The
 * details may come before or after the line that names the MAC, so the last few
 * exchanges are remembered by transaction number. Lines are hostile input (a client
 * chooses its vendor class and name): anything that does not parse is ignored, and the
 * timeline bounds and escapes what it keeps.
 *
 * What it owns: the small table of recent exchanges. The timeline is borrowed.
 */
#pragma once
#include <stdint.h>

struct dhcp_log;
struct timeline;

#define DHCP_LOG_EXCHANGES 64 /* exchanges remembered at once */

struct dhcp_log *dhcp_log_new(struct timeline *tl);
void dhcp_log_free(struct dhcp_log *d);

/* One line of dnsmasq's output, with or without its "dnsmasq-dhcp[PID]: " prefix. */
void dhcp_log_line(struct dhcp_log *d, const char *line, uint64_t now);

/* The architecture a DHCP client names in its vendor class (RFC 4578 and IANA's
 * processor architecture types): "x86 BIOS", "x86-64 UEFI", "x86-64 UEFI HTTP", "ARM64
 * UEFI", ...; NULL when the class is not a PXE or HTTP client's. */
const char *dhcp_log_arch(const char *vendor_class);
