/* One build, as the supervisor (supervise.c) prepares it for the child that does it. */
#pragma once

#include "builder/builder.h"
#include "cache/cache.h"

struct bld_job {
        const struct bld_options *opts;
        const char *image;  /* input image */
        const char *output; /* final output path */
        enum cfg_image_format format;
        char *work_dir;             /* private to this run; removed by the supervisor */
        char *overlay;              /* qcow2 over the input, inside work_dir */
        char *partial;              /* the output while it is written, beside output */
        char *log;                  /* the build's log, in work_dir (kept when the build fails) */
        char *cache_dir;            /* the build cache; NULL with --no-cache */
        char *image_tree_cache_dir; /* where image trees are kept; NULL with --no-cache */
        bool convert;               /* bld_convert: only the input written in another format */
};

struct cache;

/* An image's tree as the cache keeps it: the export's archive and what inspection found,
 * which the steps need once the appliance is gone. */
struct bld_image_tree {
        char *archive; /* fetched into the work dir */
        char *distro;
        int major_version;
};

/* A live build's use of the cache: the keys of its customized tree and of its output,
 * and which of them was found. */
struct bld_live_cache {
        struct cache *cache; /* NULL: no cache */
        char tree_key[CACHE_KEY_HEX + 1];
        char *archive; /* the tree's archive, fetched into the work dir, on a hit */
        char output_key[CACHE_KEY_HEX + 1];
        bool output_hit;      /* the output is in the cache: nothing is made */
        char *output_archive; /* a folder output's archive, fetched into the work dir */
        /* On a miss of the tree: the image's own tree, exported before (bld_image_tree_*) */
        struct cache *images; /* NULL: not used */
        char image_key[CACHE_KEY_HEX + 1];
        struct bld_image_tree image; /* its archive set on a hit */
        /* On a miss, held until the tree is kept, so that a build of the same image beside
         * this one waits for it instead of exporting it too; or -1 */
        int image_lock;
};

struct bld_guest;
struct bld_progress;

/* The image tree's key: pxeforge's own executable (how it exports) and the image's
 * SHA-256 (hex). */
int bld_image_tree_key(const char *image_sha256, char key[CACHE_KEY_HEX + 1],
                       struct pxf_error *err);
/* Keeps the exported tree, unchanged since the export, with what inspection found. */
int bld_image_tree_keep(struct cache *c, const char *key, const struct bld_guest *gs,
                        const char *tree, const char *work_dir, struct pxf_error *err);
/* On a hit returns 1 with *ret filled (the archive fetched into work_dir); 0 on a miss. */
int bld_image_tree_take(struct cache *c, const char *key, const char *work_dir,
                        struct bld_image_tree *ret, struct pxf_error *err);
void bld_image_tree_clear(struct bld_image_tree *t);

/* Where a live build's tree is: WORK_DIR/rootfs (a new string). */
char *bld_live_tree_path(const struct bld_job *job);
/* Live formats: exports the image's tree into the work dir and switches the guest to it
 * (the appliance is closed; the steps then run on the tree, with network if asked). */
int bld_live_export(const struct bld_job *job, struct bld_guest *gs, bool network,
                    struct bld_progress *prog, struct pxf_error *err);
/* Then makes the artifacts from the customized tree and publishes them; products of a
 * tree with a key are taken from and kept in the cache. */
int bld_live_make(const struct bld_job *job, const struct bld_live_cache *lc,
                  struct bld_progress *prog, struct pxf_error *err);

/* Looks the output up (lc's tree key set): on a hit, 1 with lc->output_hit set and the
 * entry fetched (a file output: already at its partial path). */
int bld_live_fetch_output(const struct bld_job *job, struct bld_live_cache *lc,
                          struct pxf_error *err);
/* Puts a fetched output in place and publishes it. */
int bld_live_restore(const struct bld_job *job, const struct bld_live_cache *lc,
                     struct bld_progress *prog, struct pxf_error *err);

/* The work of the child: customize and publish the output; or, for bld_convert, write the
 * input in the output format. */
int bld_job_customize(const struct bld_job *job, struct pxf_error *err);
int bld_job_convert(const struct bld_job *job, struct pxf_error *err);
