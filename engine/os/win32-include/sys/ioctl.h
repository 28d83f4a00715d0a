/* Windows build only (engine/os/win32-include): the terminal-size ioctl
 * the CLI uses, answered by win32_io.c from the console. */
#ifndef CMHASH_WIN32_SYS_IOCTL_H
#define CMHASH_WIN32_SYS_IOCTL_H
struct winsize {
    unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel;
};
#define TIOCGWINSZ 0x5413
int cmh__w_ioctl_winsize(int fd, unsigned long req, struct winsize *ws);
#define ioctl(fd, req, ws) cmh__w_ioctl_winsize(fd, req, ws)
#endif
