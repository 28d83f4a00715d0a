/* cmh_<op>_opts_init(): the options' defaults for callers that cannot use
 * the CMH_<OP>_OPTS_INIT designated initialisers (common.h conventions). */
#include "internal.h"

#include <cmhash/delta.h>
#include <cmhash/diff.h>
#include <cmhash/dpstatus.h>
#include <cmhash/extract.h>
#include <cmhash/gc.h>
#include <cmhash/ls.h>
#include <cmhash/snapshot.h>
#include <cmhash/verify.h>

#define CMH__OPTS_INIT_FN(op, OP)                                            \
    void cmh_##op##_opts_init(cmh_##op##_opts *o)                            \
    {                                                                        \
        *o = (cmh_##op##_opts)CMH_##OP##_OPTS_INIT;                          \
    }

CMH__OPTS_INIT_FN(snapshot, SNAPSHOT)
CMH__OPTS_INIT_FN(verify, VERIFY)
CMH__OPTS_INIT_FN(gc, GC)
CMH__OPTS_INIT_FN(extract, EXTRACT)
CMH__OPTS_INIT_FN(delta, DELTA)
CMH__OPTS_INIT_FN(patch, PATCH)
CMH__OPTS_INIT_FN(diff, DIFF)
CMH__OPTS_INIT_FN(ls, LS)
CMH__OPTS_INIT_FN(dp, DP)
