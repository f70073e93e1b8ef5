/* One line per build step with its duration; on a terminal, a live elapsed-time line
 * while a long step runs (libguestfs calls block, so a small thread keeps time). */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "builder/builder-internal.h"

void bld_progress_init(struct bld_progress *p, unsigned total, bool live, bool json)
{
        *p = (struct bld_progress){.total = total, .live = live && !json, .json = json};
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
}

static void *tick(void *arg)
{
        struct bld_progress *p = arg;
        struct timespec until;

        pthread_mutex_lock(&p->lock);
        while (p->ticking) {
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&p->wake, &p->lock, &until);
                if (!p->ticking)
                        break;
                fprintf(stderr, "\r\033[K  ... %s: %llu s", p->name,
                        (unsigned long long)((pxf_now_usec() - p->started) / 1000000u));
                fflush(stderr);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

void bld_progress_begin(struct bld_progress *p, const char *name)
{
        p->step++;
        p->name = name;
        p->started = pxf_now_usec();
        log_info("[%u/%u] %s ...", p->step, p->total, name);
        if (p->json)
                fprintf(stderr,
                        "{\"event\":\"step-begin\",\"step\":%u,\"of\":%u,\"name\":\"%s\"}\n",
                        p->step, p->total, name);
        if (!p->live)
                return;
        p->ticking = true;
        if (pthread_create(&p->ticker, NULL, tick, p) != 0)
                p->ticking = false;
}

static void stop_ticker(struct bld_progress *p)
{
        if (!p->ticking)
                return;
        pthread_mutex_lock(&p->lock);
        p->ticking = false;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->ticker, NULL);
        fputs("\r\033[K", stderr);
}

int bld_progress_end(struct bld_progress *p, int r)
{
        double secs = (double)(pxf_now_usec() - p->started) / 1e6;

        stop_ticker(p);
        if (p->json)
                fprintf(stderr,
                        "{\"event\":\"step-end\",\"step\":%u,\"of\":%u,\"name\":\"%s\",\"ok\":%s,"
                        "\"seconds\":%.1f}\n",
                        p->step, p->total, p->name, r >= 0 ? "true" : "false", secs);
        if (r >= 0)
                log_info("[%u/%u] %s: done in %.1f s", p->step, p->total, p->name, secs);
        else
                log_info("[%u/%u] %s: failed after %.1f s", p->step, p->total, p->name, secs);
        return r;
}

void bld_progress_done(struct bld_progress *p)
{
        stop_ticker(p);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
}

void bld_progress_artifact(struct bld_progress *p, const char *name, uint64_t bytes, double seconds)
{
        if (p->json)
                fprintf(stderr,
                        "{\"event\":\"artifact\",\"name\":\"%s\",\"bytes\":%" PRIu64
                        ",\"seconds\":%.1f}\n",
                        name, bytes, seconds);
}
