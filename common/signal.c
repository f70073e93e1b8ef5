#include <signal.h>
#include <time.h>

#include "common/common.h"

bool pxf_sigpipe_block(void)
{
        sigset_t set, old;

        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0)
                return false;
        return !sigismember(&old, SIGPIPE);
}

void pxf_sigpipe_unblock(bool blocked_here)
{
        struct timespec zero = {0};
        sigset_t set;

        if (!blocked_here)
                return;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) /* drop ours before unblocking */
                ;
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
