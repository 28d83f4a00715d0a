/**
 * @file cmhash.h
 * @brief Umbrella header of libcmhash, the ConfigMgr content library engine.
 */
#ifndef CMHASH_CMHASH_H
#define CMHASH_CMHASH_H

#include <cmhash/common.h>
#include <cmhash/hash.h>
#include <cmhash/ids.h>
#include <cmhash/snapshot.h>
#include <cmhash/extract.h>
#include <cmhash/diff.h>
#include <cmhash/ls.h>
#include <cmhash/delta.h>
#include <cmhash/gc.h>
#include <cmhash/dpstatus.h>
#include <cmhash/verify.h>

#endif
