/* The librsync job driver and the manifest's text fields (delta_job.h). */
#include "delta_job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"
#include <cmhash/delta.h>

/* Run @p job to completion. Returns the librsync result (RS_DONE on
 * success); io->err is set for I/O failures. */
rs_result cmh__delta_drive(rs_job_t *job, job_io *io)
{
    rs_buffers_t b;
    memset(&b, 0, sizeof b);
    b.next_in = (char *)io->inbuf;
    for (;;) {
        if (!b.eof_in && b.avail_in < DELTA_BUF_SIZE) {
            if (b.avail_in && b.next_in != (char *)io->inbuf)
                memmove(io->inbuf, b.next_in, b.avail_in);
            b.next_in = (char *)io->inbuf;
            ssize_t r;
            do
                r = read(io->in_fd, io->inbuf + b.avail_in,
                         DELTA_BUF_SIZE - b.avail_in);
            while (r < 0 && errno == EINTR);
            if (r < 0) {
                io->err = errno;
                return RS_IO_ERROR;
            }
            if (r == 0)
                b.eof_in = 1;
            b.avail_in += (size_t)r;
        }
        b.next_out = (char *)io->outbuf;
        b.avail_out = DELTA_BUF_SIZE;
        rs_result res = rs_job_iter(job, &b);
        size_t n = DELTA_BUF_SIZE - b.avail_out;
        if (n && io->limit && io->out_bytes + n > io->limit) {
            io->over = true;
            return RS_IO_ERROR;
        }
        if (n) {
            if (io->md)
                EVP_DigestUpdate(io->md, io->outbuf, n);
            if (io->out_fd >= 0 &&
                (io->err = cmh__write_all(io->out_fd, io->outbuf, n)) != 0) {
                io->write_err = true;
                return RS_IO_ERROR;
            }
            io->out_bytes += n;
        }
        if (res == RS_DONE)
            return RS_DONE;
        if (res != RS_BLOCKED)
            return res;
    }
}

/* rs_copy_cb over a base file descriptor */
rs_result cmh__delta_base_copy(void *arg, rs_long_t pos, size_t *len,
                               void **buf)
{
    int fd = *(int *)arg;
    ssize_t r;
    do
        r = pread(fd, *buf, *len, (off_t)pos);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return RS_IO_ERROR;
    if (r == 0)
        return RS_INPUT_ENDED;
    *len = (size_t)r;
    return RS_DONE;
}

/* ---- manifest text ---- */

/* Bytes <= 0x20, 0x7F and '%' become %XX so fields split on spaces. */
void cmh__delta_put_field(cmh_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p == 0x7F || *p == '%')
            cmh__buf_addf(b, "%%%02X", *p);
        else
            cmh__buf_add(b, p, 1);
    }
}

/* Decode in place; false on a bad escape or an embedded NUL. */
bool cmh__delta_decode_field(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int h = cmh__hex_nibble(p[1]);
        int l = h < 0 ? -1 : cmh__hex_nibble(p[2]);
        if (h < 0 || l < 0 || (h == 0 && l == 0))
            return false;
        *o++ = (char)(h << 4 | l);
        p += 2;
    }
    *o = 0;
    return true;
}

/* A relative '/'-separated path of safe components (no "", ".", "..",
 * backslashes, absolute paths). */
bool cmh__delta_safe_path(const char *p)
{
    if (!*p || *p == '/')
        return false;
    char part[1024];
    while (*p) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (!len || len >= sizeof part)
            return false;
        memcpy(part, p, len);
        part[len] = 0;
        if (!cmh__safe_component(part))
            return false;
        if (!q)
            break;
        p = q + 1;
        if (!*p)
            return false;
    }
    return true;
}

cmh_status cmh__delta_bufs(cmh_ctx *ctx, EVP_MD_CTX **md,
                           unsigned char **inbuf, unsigned char **outbuf)
{
    *md = EVP_MD_CTX_new();
    *inbuf = malloc(DELTA_BUF_SIZE);
    *outbuf = malloc(DELTA_BUF_SIZE);
    if (!*md || !*inbuf || !*outbuf)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    return CMH_OK;
}
