/* Growing arrays: the one copy of the realloc-doubling step. Not installed. */
#ifndef CMHASH_GROW_H
#define CMHASH_GROW_H

#include <stdbool.h>
#include <stddef.h>

/* Make the array behind @p arrp hold at least @p need elements of @p elem
 * bytes each. @p arrp is the address of the array pointer (any object
 * pointer type: "&s->v"), @p cap its capacity in elements. When
 * need > *cap the capacity becomes *cap (or @p first when *cap is 0)
 * doubled until it reaches need, and the array is reallocated, its
 * contents kept. Returns false, with the array and *cap unchanged, when
 * the new size does not fit in a size_t or realloc fails. */
bool cmh__grow(void *arrp, size_t *cap, size_t need, size_t elem,
               size_t first);

#endif
