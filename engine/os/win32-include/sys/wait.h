/* Windows build: declared by win32_posix.h (force-included). */
#include "../../win32_posix.h"
