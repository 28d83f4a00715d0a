/* Fuzz target: package/content ID parsers, Windows name rules, UTF-8 ->
 * UTF-16 and the Source= percent-encoding on arbitrary strings. */
#include <stdint.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char id[CMH_PKGID_SIZE];
    if (cmh_pkgid_parse(id, s) == CMH_OK && strlen(id) != 8)
        abort();
    uint32_t v = 0;
    cmh_content_kind k = cmh_content_id_parse(id, &v, s);
    if (k != CMH_CONTENT_INVALID) {
        /* accepted IDs can be used as one path component */
        if (strchr(s, '/') || strchr(s, '\\') || strstr(s, "..") ||
            !strcmp(s, "."))
            abort();
        if (k != CMH_CONTENT_UPDATE && v == 0)
            abort();
    }
    (void)cmh__name_problem(s);
    uint16_t *u;
    size_t n;
    if (cmh__utf8_to_utf16(s, strlen(s), &u, &n)) {
        cmh__utf16_upper(u, n);
        cmh__utf16_lower(u, n);
        free(u);
    }
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__percent_encode(&b, s);
    /* the encoded value is one INI line of printable text */
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (c < 0x20 || c == 0x7F)
            abort();
    }
    cmh__buf_free(&b);
    free(s);
    return 0;
}
