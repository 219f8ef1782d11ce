/*
 * The subunit source: a Gearman worker for push-subunit jobs that fetches
 * the subunit v2 stream of a test run and publishes a summary under
 * gearman-subunit/<worker host>/<project>/<change>.
 */
#ifndef FH_SUBUNIT_H
#define FH_SUBUNIT_H

#include "gateway/module.h"

extern const struct fh_source_ops fh_source_subunit;

#endif
