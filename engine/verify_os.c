/* Platform pieces of cmh_verify that os/os.h does not offer yet: folders
 * opened with O_NOATIME, and the --nice priority drop. Kept beside verify
 * because os/ is shared; they belong in os/posix.c when it next opens. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

int cmh__verify_open_dir(int dirfd, const char *path, int *out_fd);
void cmh__verify_lower_priority(void);

int cmh__verify_open_dir(int dirfd, const char *path, int *out_fd)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd;
#ifdef O_NOATIME
    /* Listing a folder updates its atime like reading a file does; the
     * flag is refused (EPERM) on folders we do not own. */
    fd = openat(dirfd, path, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, path, flags);
#else
    fd = openat(dirfd, path, flags);
#endif
    if (fd < 0)
        return errno;
    *out_fd = fd;
    return 0;
}

void cmh__verify_lower_priority(void)
{
    /* Linux applies both to the calling thread only; threads created
     * afterwards (the verify workers) inherit them. */
    (void)setpriority(PRIO_PROCESS, 0, 19);
#if defined(__linux__) && defined(SYS_ioprio_set)
    /* IOPRIO_WHO_PROCESS = 1, IOPRIO_CLASS_IDLE = 3 (<linux/ioprio.h>). */
    (void)syscall(SYS_ioprio_set, 1, 0, 3 << 13);
#endif
}
