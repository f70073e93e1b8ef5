/* Internal to common/: the container pxf_spawn_* runs a program in when
 * pxf_spawn_opts.container_root is set (container.c says what it is made of), and, without
 * a root, the bare pid namespace of die_with_parent. */
#pragma once

#include <sys/types.h>

struct pxf_spawn_opts;

/* Starts argv in a container on o->container_root (or, without one, in a pid namespace of
 * its own and nothing else) with err_fd as its stderr; *ret_pid is
 * the process to wait for, which exits as the program does (128 + N when it was killed by
 * signal N). Returns 0 or a negative errno; a failure inside the container is said on
 * err_fd ("pxeforge container: ...") with exit status 127. */
int pxf_container_start(const char *const *argv, const struct pxf_spawn_opts *o, int err_fd,
                        const char *const *default_envp, pid_t *ret_pid);
