/* The kit's platform calls on POSIX systems (kit.h): moved here from
 * engine/os/posix.c so that libcmhash ships none of them. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int kit_os_open_unbuffered(const char *path, int *out_fd,
                           const char **method)
{
#ifdef O_DIRECT
    *method = "O_DIRECT";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
#else
    *method = "none";
    int fd = -1;
    errno = EINVAL;
#endif
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

double kit_os_resident_fraction(int fd, uint64_t size)
{
    if (size == 0)
        return 0;
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -1;
    long pg = sysconf(_SC_PAGESIZE);
    size_t npages = (size + (uint64_t)pg - 1) / (uint64_t)pg;
    unsigned char *vec = malloc(npages);
    double frac = -1;
    if (vec && mincore(m, size, vec) == 0) {
        size_t in = 0;
        for (size_t i = 0; i < npages; i++)
            in += vec[i] & 1;
        frac = (double)in / (double)npages;
    }
    free(vec);
    munmap(m, size);
    return frac;
}

void *kit_os_aligned_alloc(size_t align, size_t size)
{
    void *p;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

void kit_os_aligned_free(void *p)
{
    free(p);
}

void kit_os_advise_dontneed(int fd)
{
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}
