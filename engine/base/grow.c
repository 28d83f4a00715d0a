/* Growing arrays (grow.h). */
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool cmh__grow(void *arrp, size_t *cap, size_t need, size_t elem,
               size_t first)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return false;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem)
        return false;
    /* the pointer is read and written through memcpy: @p arrp points to a
     * "T *" of the caller's type, which may not be accessed as a void * */
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *v = realloc(old, nc * elem);
    if (!v)
        return false;
    memcpy(arrp, &v, sizeof v);
    *cap = nc;
    return true;
}
