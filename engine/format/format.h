/* The format model (contentlib.md sections 2, 3, 6, 9): one module per
 * record kind, each with a lenient reader (section 9: what any library,
 * ConfigMgr-written ones included, may hold) and the writer of cmhash's own
 * bytes (section 3). Every command reads the library through these; no
 * other file parses these records. Internal.
 *
 *   record kind                      module
 *   content ID grammar, GUID compare format/cid.c
 *   hex digests                      format/hex.c
 *   PkgLib/<P>.INI                   format/pkgini.c
 *   DataLib/<ContentID>.INI          format/contentini.c
 *   DataLib/<cid>/<rel>.INI (file)   format/fileini.c
 *   FileLib/<H4>/<HASH>.INI (refs)   format/refini.c
 *   .SIG header and length           format/sig.c
 *   DataLib mirror tree walk         format/mirror.c
 */
#ifndef CMHASH_FORMAT_H
#define CMHASH_FORMAT_H

#include "internal.h"

#include <sys/stat.h>

/* ---- content IDs (cid.c; parse is cmh_content_id_parse, ids.h) ---- */
/* Content IDs name the same content: GUID parts compare case-
 * insensitively (ConfigMgr writes them lower-case, admins type either). */
bool cmh__cid_equal(const char *a, const char *b);
/* A version number: decimal n >= 1, no padding, at most 9 digits. */
bool cmh__version_parse(const char *s, uint32_t *out);
/* Order of content IDs that agrees with cmh__cid_equal. */
int cmh__cid_cmp(const char *a, const char *b);

/* ---- hex (hex.c) ---- */
/* Value of one hex digit (either case), or -1. */
int cmh__hex_nibble(int c);
/* The first 64 chars of @p s, hex digits of either case, to 32 bytes;
 * false if one is not a hex digit (what follows is not looked at). */
bool cmh__hex64_decode(const char *s, uint8_t out[CMH_SHA256_LEN]);

/* ---- PkgLib/<PackageID>.INI (pkgini.c) ---- */
typedef struct cmh_pkgini_bad {
    int line;
    char key[80];   /* the offending key or value, may be "" */
    char why[160];  /* one line, no path */
} cmh_pkgini_bad;

typedef struct cmh_pkgini {
    char pkgid[CMH_PKGID_SIZE];
    bool have_packages;
    bool have_version;
    uint32_t version;       /* [Info] Version (valid only if have_version) */
    char (*ids)[64];        /* [Packages] content IDs, file order */
    size_t nids, capids;
    char (*keep)[64];       /* [cmhash] Keep= (this package's IDs) */
    size_t nkeep, capkeep;
    cmh_pkgini_bad *bad;    /* per-line problems (entries ignored) */
    size_t nbad;
    char (*sorted)[64];     /* ids + keep sorted by cmh__cid_cmp */
    size_t nsorted;
    bool oom;
} cmh_pkgini;

/* Parse PkgLib/<pkgid>.INI bytes. False: not an INI at all (@p why says
 * why); true: parsed, per-line problems in out->bad. A [Packages] key of
 * another package, a key that is no content ID, a Version that is not a
 * version number (cmh__version_parse), and a Keep entry of another package
 * are problems; no [Packages] section is one too. */
bool cmh__pkgini_parse(cmh_pkgini *out, const char *pkgid, const char *data,
                      size_t len, char *why, size_t whylen);
/* Read and parse PkgLib/<pkgid>.INI from @p pkglib_fd. Returns 0, ENOENT,
 * EINVAL (unparsable: @p why), EFBIG or another errno. */
int cmh__pkgini_read(int pkglib_fd, const char *pkgid, cmh_pkgini *out,
                    char *why, size_t whylen);
void cmh__pkgini_free(cmh_pkgini *p);
/* Is @p cid one the INI lists ([Packages] or Keep)? O(log n). */
bool cmh__pkgini_lists(const cmh_pkgini *p, const char *cid);
/* The highest package version among [Packages] and Version, and the
 * content ID of that version (or the first listed ID) into @p cid. */
uint32_t cmh__pkgini_current(const cmh_pkgini *p, char cid[64]);
/* cmhash's bytes (section 3.1 plus docs/FORMAT.md "Kept versions"). */
void cmh__pkgini_write(cmh_buf *b, const char *pkgid, uint32_t version,
                      const char (*keep)[64], size_t nkeep);

/* ---- DataLib content INI (contentini.c) ---- */
typedef struct cmh_contentini {
    uint8_t hash[CMH_SHA256_LEN], sighash[CMH_SHA256_LEN];
    bool have_hash, have_alg, have_sighash;
    bool hash_lower, sighash_lower; /* accepted, not canonical */
    bool has_cmhash;                /* a [cmhash] section: cmhash wrote it */
    char alg[32];
    char bad[160];
} cmh_contentini;
enum {
    CMH_CONTENTINI_OK = 0,
    CMH_CONTENTINI_UNPARSABLE, /* not an INI */
    CMH_CONTENTINI_BAD,        /* a hash that is not 64 hex digits */
    CMH_CONTENTINI_NO_HASH,    /* no [Info] Hash */
    CMH_CONTENTINI_BAD_ALG,    /* HashAlgorithm other than 32780 */
};
/* Lenient; @p why gets a one-line reason for every result but OK. */
int cmh__contentini_parse(const char *data, size_t len, cmh_contentini *p,
                         char *why, size_t whylen);
/* Read and parse DataLib/<cid>.INI: 0, ENOENT, EINVAL (@p why), EFBIG or
 * another errno. */
int cmh__contentini_read(int datalib_fd, const char *cid, cmh_contentini *p,
                        char *why, size_t whylen);
typedef struct cmh_contentini_facts {
    uint8_t hash[CMH_SHA256_LEN], sighash[CMH_SHA256_LEN];
    uint64_t files, folders, bytes;
    const char *source; /* NULL: no Source= (the default, privacy) */
    int64_t created;    /* FILETIME */
} cmh_contentini_facts;
/* cmhash's content INI (section 3.2). */
void cmh__contentini_write(cmh_buf *b, const cmh_contentini_facts *f);

/* ---- DataLib per-file INI (fileini.c) ---- */
typedef struct cmh_fileini {
    uint32_t attrs;
    uint64_t size;          /* <= INT64_MAX */
    int64_t filetime;       /* TimeModified, >= 0 */
    uint8_t sha[CMH_SHA256_LEN];
    bool have_hash;         /* Hash valid (whatever else is wrong) */
    bool lower_hash, lower_attrs; /* accepted, not canonical */
    char missing[16];       /* CMH_FILEINI_MISSING: the key */
    char bad[48];           /* CMH_FILEINI_BAD: what is wrong */
    char bad_value[80];     /* ... and the value (cut) */
} cmh_fileini;
enum {
    CMH_FILEINI_OK = 0,
    CMH_FILEINI_UNPARSABLE, /* not an INI: @p why */
    CMH_FILEINI_MISSING,    /* a [File] key is missing: f->missing */
    CMH_FILEINI_BAD,        /* a value is malformed: f->bad, f->bad_value */
};
/* All four [File] keys, lenient (section 9: lower-case hex accepted and
 * flagged). */
int cmh__fileini_parse(const char *data, size_t len, cmh_fileini *f,
                      char *why, size_t whylen);
/* cmhash's 4-line file INI (section 3.3). */
void cmh__fileini_write(cmh_buf *b, uint32_t attrs, uint64_t size,
                       int64_t filetime, const uint8_t sha[CMH_SHA256_LEN]);

/* ---- FileLib reference INI (refini.c; parse and write are
 * cmh__reflist_parse / cmh__reflist_write, internal.h) ---- */
/* Are @p data exactly the bytes cmhash writes for @p r (section 3.4)? */
bool cmh__refini_is_cmhash(const char *data, size_t len,
                          const cmh_reflist *r);
/* Edit a foreign reference INI in its own encoding (UTF-16LE with BOM, or
 * bytes) and line ending, keeping every other line as it is: drop the
 * lines whose key is @p drop (GUIDs compared case-insensitively), then
 * add "<add>=" at the end. Either may be NULL. 0 or an errno. */
int cmh__refini_edit(const char *data, size_t len, const char *add,
                    const char *drop, cmh_buf *out);

/* ---- .SIG (sig.c) ---- */
enum {
    CMH_SIGHDR_OK = 0,      /* librsync magic; *magic, *bl, *sl set */
    CMH_SIGHDR_SHORT = 1,   /* fewer than 12 bytes (a known magic or < 4) */
    CMH_SIGHDR_FOREIGN = 2, /* 4+ bytes, not a librsync magic */
};
/* The 24-byte header that starts an MS-RDC signature (ConfigMgr's). */
#define CMH_RDC_SIG_HEADER_LEN 24
extern const unsigned char cmh__rdc_sig_header[CMH_RDC_SIG_HEADER_LEN];
/* Classify the first @p got (<= 12 used) bytes @p hdr of a .SIG. */
int cmh__sig_header_parse(const unsigned char *hdr, size_t got,
                          uint32_t *magic, uint32_t *bl, uint32_t *sl);
/* Are block length @p bl and strong-sum length @p sl possible for
 * @p magic (0 < bl <= INT32_MAX, as librsync reads it; 0 < sl <= 16
 * for MD4, 32 for BLAKE2)? */
bool cmh__sig_params_ok(uint32_t magic, uint32_t bl, uint32_t sl);
/* Length of a signature of a @p size-byte file: 12-byte header plus one
 * (4 + sl)-byte record per block; 0 when bl is 0, UINT64_MAX when it
 * would not fit 64 bits (a crafted Size= must not wrap to a match). */
uint64_t cmh__sig_expected_len(uint32_t bl, uint32_t sl, uint64_t size);
/* Does @p hdr (@p got bytes) start with the MS-RDC header? */
bool cmh__sig_is_rdc(const unsigned char *hdr, size_t got);

/* ---- DataLib mirror walk (mirror.c) ---- */
/* The deepest mirror any command reads: the 32,000-unit path rule
 * (section 4) allows at most 16,000 levels of one-letter folders. */
#define CMH_MIRROR_MAX_DEPTH 16000
typedef struct cmh_mirror_cb {
    /* A sub-folder @p name of the current folder is entered (depth of the
     * new folder, root = 0). Nonzero: skip it. */
    int (*enter)(void *arg, const char *name, int depth);
    /* The current folder is finished (called for every entered one). */
    void (*leave)(void *arg);
    /* A non-folder entry of the current folder (@p dirfd is open on it
     * for the duration of the call; @p sb from fstatat, no follow). */
    int (*entry)(void *arg, int dirfd, const char *name,
                 const struct stat *sb);
    /* Walk below CMH_MIRROR_MAX_DEPTH too (retiring a content must see
     * every reference it holds, however deep). */
    bool no_depth_limit;
} cmh_mirror_cb;
/* Walk the mirror folder @p name below @p parent_fd: per folder its
 * non-folder entries in name order, then its sub-folders in name order,
 * depth first. Needs two descriptors whatever the depth (returns to a
 * parent by "..", checked by device and inode). A callback returning
 * nonzero stops the walk with that value. Errors: an errno, with the
 * relative path of the folder concerned in @p where (malloc'd, "" for the
 * root; caller frees); ELOOP: deeper than CMH_MIRROR_MAX_DEPTH. */
int cmh__mirror_walk(int parent_fd, const char *name, const cmh_mirror_cb *cb,
                    void *arg, char **where);
/* Shorten a long relative path in place to its first 80 and last 60
 * bytes around "..." (error lines stay one readable line). */
void cmh__path_abbrev(char *s);
/* Remove the tree @p name below @p parent_fd the same way (no descriptor
 * per level). Returns 0 or an errno. */
int cmh__tree_remove(int parent_fd, const char *name);

#endif
