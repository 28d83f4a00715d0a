/* Operating-system seam: the only place with platform #ifdefs. Every call
 * returns 0 or an errno value. */
#ifndef CMHASH_OS_H
#define CMHASH_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Open a source or library file read-only without following a final
 * symlink, never blocking on a FIFO, with O_NOATIME where permitted. */
int cmh__os_open_read(int dirfd, const char *path, int *out_fd);
/* Open a directory (no final symlink). */
int cmh__os_open_dir(int dirfd, const char *path, int *out_fd);
/* The same for reading only: with O_NOATIME where permitted, so listing a
 * folder does not update its access time (verify never writes). */
int cmh__os_open_dir_noatime(int dirfd, const char *path, int *out_fd);
/* Call @p fn for each name in the folder open as @p fd, but "." and "..",
 * with its d_type (DT_UNKNOWN when the filesystem does not say). Reads
 * from the descriptor's position: pass @p rewind unless @p fd was just
 * opened. A nonzero return of @p fn stops the listing and is returned;
 * else 0 or an errno. On Linux one getdents64 per 32 KiB of entries, no
 * DIR stream (no dup, fstat or fcntl per folder: verify lists up to 65,536
 * FileLib folders). */
int cmh__os_list_dir(int fd, bool rewind,
                    int (*fn)(const char *name, unsigned char type,
                              void *arg),
                    void *arg);
/* Lowest CPU priority and the idle I/O class for this thread and the
 * threads it creates afterwards (verify --nice). Best effort. */
void cmh__os_lower_priority(void);
/* Make data and metadata written so far durable for the whole filesystem
 * that holds @p fd (syncfs), or for @p fd alone where syncfs is missing. */
int cmh__os_sync_fs(int fd);
int cmh__os_fsync(int fd);
/* Windows attributes: from the DOS attribute a CIFS/Samba mount exposes,
 * else synthesised from @p st and @p name (contentlib.md 3.3). */
uint32_t cmh__os_dos_attributes(int fd, const char *name, const struct stat *st);
/* Advisory whole-file lock on an open fd: exclusive or shared, waiting or
 * not (EWOULDBLOCK when busy). */
int cmh__os_lock(int fd, bool exclusive, bool wait);
/* Release a lock taken with cmh__os_lock. */
void cmh__os_unlock(int fd);
/* Is the lock on dirfd/name held by someone (without taking it for long and
 * without creating the file)? *busy=false if the file does not exist. */
int cmh__os_lock_probe(int dirfd, const char *name, bool *busy);
/* @p n unpredictable bytes (getrandom / the system's CSPRNG). */
int cmh__os_random(void *buf, size_t n);
/* Is the lock on open @p fd held by anyone but shared holders (a writer
 * with an exclusive lock)? Takes a shared lock for an instant through a
 * second open of dirfd/name. *exclusive=false when it could be taken. */
int cmh__os_lock_held_exclusive(int dirfd, const char *name, bool *exclusive);
/* Hint that @p fd will be read sequentially once. */
void cmh__os_advise_sequential(int fd);
/* Ask the system to start reading the first @p len bytes of dirfd/path
 * into its cache without waiting for them (verify's prefetch). Best
 * effort: 0 or an errno, and nothing else happens either way. Portable
 * fallback: do nothing and return 0. */
int cmh__os_prefetch(int dirfd, const char *path, uint64_t len);
/* Where the first byte of dirfd/path lies on its device (the first
 * extent FIEMAP reports), so a pass over many files can read them in the
 * order the disk holds them. ENOTSUP where the file system or platform
 * does not tell (no FIEMAP, an empty or inline file, Windows): the caller
 * keeps its own order. */
int cmh__os_physical_offset(int dirfd, const char *path, uint64_t *out);
/* Reads in flight that fill the OS cache (verify's cold hash pass): a
 * queue of up to @p depth reads of at most @p maxlen bytes each, whose
 * bytes land in one scratch buffer and are dropped - the point is the
 * page cache they fill. io_uring through liburing on Linux when the build
 * found liburing and the kernel allows it; else ENOSYS (Windows, a build
 * without liburing) or the kernel's errno (an old kernel, a container's
 * seccomp filter, kernel.io_uring_disabled), and the caller falls back. */
typedef struct cmh_os_aread cmh_os_aread;
int cmh__os_aread_open(unsigned depth, size_t maxlen, cmh_os_aread **out);
/* Queue and submit a read of @p len (<= maxlen) bytes at @p off of @p fd;
 * @p tag comes back from cmh__os_aread_reap. EAGAIN when @p depth reads
 * are in flight. @p fd must stay open until the read is reaped. */
int cmh__os_aread_submit(cmh_os_aread *q, int fd, uint64_t off, size_t len,
                        uint64_t tag);
/* Finished reads: up to @p max tags and results (bytes read, or -errno)
 * into @p tags / @p res; when none is ready, waits up to @p wait_us
 * microseconds for one (0: not at all). Returns how many were reaped. */
unsigned cmh__os_aread_reap(cmh_os_aread *q, uint64_t *tags, int *res,
                           unsigned max, unsigned wait_us);
/* Waits for every read in flight, then frees. NULL is a no-op. */
void cmh__os_aread_close(cmh_os_aread *q);
/* Write all @p len bytes at offset @p off (not moving the file offset;
 * other threads may write other ranges of the same file at the same
 * time). Portable fallback: a loop of pwrite; Windows: WriteFile with an
 * OVERLAPPED offset. */
int cmh__os_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Is the filesystem that holds @p fd out of inodes (free space aside)?
 * *used gets the inodes in use. Portable fallback (and Windows, where
 * NTFS has no fixed inode table): *out = false. */
int cmh__os_inodes_exhausted(int fd, bool *out, unsigned long long *used);
/* FileLib roots the system holds besides the primary library at @p lib
 * (contentlib.md 10, spanned libraries): on Windows X:\SCCMContentLib\FileLib
 * on every local fixed drive (GetDriveTypeW DRIVE_FIXED) but @p lib's own
 * drive, in drive-letter order, when that folder exists. *out gets @p *n
 * malloc'd paths (free each and the array). Portable fallback (POSIX):
 * none, *n = 0. */
int cmh__os_filelib_drives(const char *lib, char ***out, size_t *n);

/* Change notification for `status --watch` on a set of folders: inotify
 * on Linux, ReadDirectoryChangesW on Windows. cmh__os_watch_open returns a
 * watch descriptor, or -1 when the platform has none (then the caller
 * polls folder mtimes). A folder that cannot be watched is skipped. */
int cmh__os_watch_open(void);
void cmh__os_watch_add(int w, const char *dir);
/* Wait up to @p secs for a change in a watched folder; true when one came
 * (all pending events are drained). */
bool cmh__os_watch_wait(int w, double secs);
void cmh__os_watch_close(int w);

#endif
