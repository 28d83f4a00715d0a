/* Fuzz target: the lenient INI reader (all encodings) and the FileLib
 * reference-list parser on arbitrary bytes. */
#include <stdint.h>

#include "internal.h"

static int count_keys(void *payload, const char *section, const char *key,
                      const char *value, int lineno)
{
    size_t *n = payload;
    /* what the reader promises its callers */
    if (!section || !key || !value || lineno < 1)
        abort();
    if (strlen(value) > CMH_INI_MAX_LINE)
        abort();
    (*n)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    size_t n = 0;
    (void)cmh__ini_parse((const char *)data, size, count_keys, &n, why,
                        sizeof why);
    cmh_reflist r = {0};
    if (cmh__reflist_parse(&r, (const char *)data, size, why, sizeof why)) {
        for (size_t i = 0; i < r.n; i++) {
            /* every accepted reference is a safe content ID */
            if (strchr(r.ids[i], '/') || strstr(r.ids[i], ".."))
                abort();
            if (i && strcmp(r.ids[i - 1], r.ids[i]) >= 0)
                abort(); /* sorted, unique */
        }
        cmh_buf b;
        cmh__buf_init(&b);
        cmh__reflist_write(&r, &b);
        cmh_reflist rr = {0};
        /* what we write, we read back identically */
        if (!cmh__reflist_parse(&rr, b.data, b.len, why, sizeof why) ||
            rr.n != r.n)
            abort();
        cmh__reflist_free(&rr);
        cmh__buf_free(&b);
    }
    cmh__reflist_free(&r);
    return 0;
}
