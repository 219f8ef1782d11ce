/* The gerrit source: stream-events over SSH, gaps filled from events-log. */
#ifndef FH_GERRIT_H
#define FH_GERRIT_H

#include "gateway/module.h"

extern const struct fh_source_ops fh_source_gerrit;

#endif
