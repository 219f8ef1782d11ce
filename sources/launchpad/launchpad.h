/* The Launchpad source: bug mail over IMAP (replaces lpmqtt). */
#ifndef FH_LAUNCHPAD_H
#define FH_LAUNCHPAD_H

#include "gateway/module.h"

extern const struct fh_source_ops fh_source_launchpad;

#endif
