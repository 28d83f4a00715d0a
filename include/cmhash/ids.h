/**
 * @file ids.h
 * @brief Package IDs and content IDs (contentlib.md section 2).
 */
#ifndef CMHASH_IDS_H
#define CMHASH_IDS_H

#include <cmhash/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CMH_PKGID_SIZE, CMH_CID_SIZE: common.h */

/**
 * Parse a package ID: 3 characters [A-Z0-9] + 5 hex digits, any case.
 * @param[out] out  the canonical upper-case ID (CMH_PKGID_SIZE bytes).
 * @return CMH_OK or CMH_E_INVALID.
 */
CMH_EXTERN
cmh_status cmh_pkgid_parse(char out[CMH_PKGID_SIZE], const char *text);

/** Kind of a content ID. */
typedef enum cmh_content_kind {
    CMH_CONTENT_INVALID = 0,
    CMH_CONTENT_PACKAGE = 1,     /**< `MSC0000B.2` */
    CMH_CONTENT_APP = 2,         /**< `Content_<guid>.<n>` */
    CMH_CONTENT_UPDATE = 3,      /**< bare lower-case GUID */
} cmh_content_kind;

/**
 * Classify a content ID as read from a library. Never accepts path
 * separators, `..`, or anything outside the three shapes.
 * @param[out] pkgid    for packages, the package ID (may be NULL)
 * @param[out] version  for packages and apps, n (may be NULL)
 */
CMH_EXTERN
cmh_content_kind cmh_content_id_parse(char pkgid[CMH_PKGID_SIZE],
                                      uint32_t *version, const char *text);

#ifdef __cplusplus
}
#endif
#endif
