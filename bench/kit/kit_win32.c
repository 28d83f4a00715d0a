/* The kit's platform calls on Windows (kit.h): moved here from
 * engine/os/win32.c so that libcmhash ships none of them. The POSIX names
 * map to engine/os/win32_*.c through win32_posix.h. */
#include "kit.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>

int kit_os_open_unbuffered(const char *path, int *out_fd,
                           const char **method)
{
    *method = "FILE_FLAG_NO_BUFFERING";
    int fd = open(path, O_RDONLY | O_DIRECT);
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

double kit_os_resident_fraction(int fd, uint64_t size)
{
    (void)fd;
    (void)size;
    return -1; /* Windows does not tell which pages of a file are cached */
}

void *kit_os_aligned_alloc(size_t align, size_t size)
{
    return _aligned_malloc(size, align);
}

void kit_os_aligned_free(void *p)
{
    _aligned_free(p);
}

void kit_os_advise_dontneed(int fd)
{
    (void)fd; /* no per-file eviction on Windows */
}
