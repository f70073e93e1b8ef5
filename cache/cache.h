/* cache: a bounded store of build results on the host, each kept under a key that sums up
 * everything it was made from, so that a rebuild reuses what did not change.
 *
 * A key is the SHA-256 of named parts (strings, and the contents of files) added in a
 * fixed order by the stage that owns it: two builds that add the same parts get the same
 * key. An entry is one file, `<key>`, with its own SHA-256 beside it in `<key>.sha256`;
 * both appear only complete (written beside, then renamed), the checksum last, so a build
 * killed half-way leaves no entry, only scratch files that the next store removes. Every
 * fetch checks the entry against its checksum: a corrupt or truncated entry is removed and
 * reported as a miss, never used. Stores evict the entries used longest ago until the
 * cache fits its bound. A lock file serializes stores and evictions against fetches, so
 * two builds may share one cache.
 *
 * The cache owns its folder; callers own the files they fetch (hard links or copies). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

#define CACHE_KEY_HEX 64

struct cache;
struct cache_key;

/* A key under construction for a kind of entry ("tree", "squashfs", ...). */
struct cache_key *cache_key_new(const char *kind);
/* Adds name and value (both NUL-terminated; value may be NULL) as one part. */
void cache_key_add(struct cache_key *k, const char *name, const char *value);
/* Adds name and the contents of the host file at path (a folder: every file under it,
 * with names, modes and link targets, in name order). -errno with err set. */
int cache_key_add_file(struct cache_key *k, const char *name, const char *path,
                       struct pxf_error *err);
/* The key as 64 hex digits, written to hex; frees k. */
void cache_key_finish(struct cache_key *k, char hex[CACHE_KEY_HEX + 1]);
void cache_key_free(struct cache_key *k);
/* The SHA-256 of a file's contents as 64 hex digits (not through a symlink). */
int cache_file_sha256(const char *path, char hex[CACHE_KEY_HEX + 1]);
/* The same of an open file, read from its start. */
int cache_fd_sha256(int fd, char hex[CACHE_KEY_HEX + 1]);

/* Opens (creating it) the cache in dir, bounded to max_bytes. */
int cache_open(const char *dir, uint64_t max_bytes, struct cache **ret, struct pxf_error *err);
struct cache *cache_close(struct cache *c);

/* A hit: dest (which must not exist) becomes the entry's contents (a hard link when
 * dest is on the cache's file system, a copy otherwise), and 1 is returned. 0: no entry,
 * or a corrupt one (removed, with a warning). Negative errno with err set on failure. */
int cache_fetch(struct cache *c, const char *key, const char *dest, struct pxf_error *err);
/* Stores a copy (or hard link) of src under key, replacing any entry, then evicts. src
 * must not change after this (a scratch file of the build that made it). */
int cache_store(struct cache *c, const char *key, const char *src, struct pxf_error *err);
/* One maker of key's entry at a time, across processes: blocks while another holds key
 * (saying so in the log), then holds it until the returned descriptor is closed or the
 * process ends. Its lock file, `.making-KEY`, stays. The fd, or a negative errno. */
int cache_lock_making(struct cache *c, const char *key);
/* The folder and total size of the entries (for messages and tests). */
const char *cache_dir(const struct cache *c);
uint64_t cache_size(struct cache *c);
