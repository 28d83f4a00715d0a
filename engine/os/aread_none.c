/* The OS seam's reads in flight where there are none (Windows, or a
 * build without liburing): every call says so and verify falls back to
 * its posix_fadvise prefetch (os.h). */
#include "os.h"

#include <errno.h>

int cmh__os_aread_open(unsigned depth, size_t maxlen, cmh_os_aread **out)
{
    (void)depth;
    (void)maxlen;
    *out = NULL;
    return ENOSYS;
}

int cmh__os_aread_submit(cmh_os_aread *q, int fd, uint64_t off, size_t len,
                        uint64_t tag)
{
    (void)q;
    (void)fd;
    (void)off;
    (void)len;
    (void)tag;
    return ENOSYS;
}

unsigned cmh__os_aread_reap(cmh_os_aread *q, uint64_t *tags, int *res,
                           unsigned max, unsigned wait_us)
{
    (void)q;
    (void)tags;
    (void)res;
    (void)max;
    (void)wait_us;
    return 0;
}

void cmh__os_aread_close(cmh_os_aread *q)
{
    (void)q;
}
