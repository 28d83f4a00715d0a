/* Loading content trees for the admin commands (extract, diff, ls, delta):
 * a content's DataLib mirror, or a source folder, into a cmh_node tree
 * with sizes, times, attributes and hashes. Internal. */
#ifndef CMHASH_TREE_IO_H
#define CMHASH_TREE_IO_H

#include "internal.h"
#include "library.h"

/* Counts of a loaded tree. */
typedef struct cmh_tree_counts {
    uint64_t files, folders, bytes;
} cmh_tree_counts;

/* Resolve @p text (a content ID, or a package ID meaning its current
 * version) to a content ID of @p l that has a DataLib INI and folder.
 * @p hash receives the DataLib [Info] Hash (upper-case) or "".
 * Errors: CMH_E_INVALID (not an ID), CMH_E_LIBRARY (absent, damaged). */
cmh_status cmh__content_resolve(cmh_ctx *ctx, cmh_library *l,
                                const char *text, char cid[CMH_CID_SIZE],
                                char hash[CMH_HEX_SIZE]);

/* Load the mirror DataLib/<cid> strictly: every entry must be a real
 * folder or a regular `<name>.INI` file with a valid [File] section; a
 * symbolic link, special file, `.`/`..` name, name with a path separator
 * or bad INI fails with CMH_E_LIBRARY naming the path. Node mtime_ns is
 * the TimeModified FILETIME converted to ns (exact); attrs and sha from
 * the INI. The tree is sorted in NTFS order. */
cmh_status cmh__mirror_load(cmh_ctx *ctx, cmh_library *l, const char *cid,
                            cmh_node **root, cmh_tree_counts *counts);

/* Load and hash a source folder (cmh__hash_dir_tree: symbolic links are
 * skipped), sorted, with its counts. */
cmh_status cmh__source_load(cmh_ctx *ctx, const char *path, cmh_node **root,
                            cmh_tree_counts *counts);

/* Count files, folders (root excluded) and bytes of a tree. */
void cmh__tree_count(const cmh_node *root, cmh_tree_counts *c);

/* Read @p in to its end, feeding SHA-256 (@p md, initialised here) and,
 * when @p out >= 0, writing the bytes to @p out. Returns 0 or an errno;
 * *write_err tells a failure of the output apart. */
int cmh__copy_hash(int in, int out, EVP_MD_CTX *md, EVP_MD *mdt,
                   unsigned char *buf, size_t bufsize, uint64_t *nbytes,
                   uint8_t sha[CMH_SHA256_LEN], bool *write_err);

/* Is @p name safe as one path component on both POSIX and Windows
 * (not empty, not . or .., no / or \, no NUL)? */
bool cmh__safe_component(const char *name);

/* Create @p path (with parents) and open it as a folder. Unless
 * @p allow_nonempty, a folder that holds anything fails with
 * CMH_E_INVALID. *was_empty tells what it held. */
cmh_status cmh__dest_open(cmh_ctx *ctx, const char *path,
                          bool allow_nonempty, int *fd, bool *was_empty);

/* Make the temporary folder a new tree for @p dest is built in before it
 * is renamed onto @p dest (missing or empty): `.cmhash-tmp-<pid>-<tag>`
 * beside it. *out is malloc'd (the caller removes the folder and frees
 * it); NULL on failure, with the context's error set. */
cmh_status cmh__dest_tmp(cmh_ctx *ctx, const char *dest, const char *tag,
                         char **out);

/* Open the folder @p rel ('/'-separated, "" = @p root itself) below the
 * folder fd @p root one component at a time with O_NOFOLLOW, creating
 * missing ones with @p create. Every component must pass
 * cmh__safe_component (EINVAL otherwise). Returns 0 or an errno. */
int cmh__open_rel_dir(int root, const char *rel, bool create, int *out);

/* Set mode (0444 when READONLY is in @p attrs, else 0644) and last-write
 * time of an open file; 0 or errno. */
int cmh__apply_meta(int fd, uint32_t attrs, int64_t mtime_ns);

#endif
