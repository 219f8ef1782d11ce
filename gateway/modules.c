/*
 * The whole module registry, in start order (stop runs in reverse).
 * Adding a source: a folder under sources/, one ops table, one line here.
 */
#include <stddef.h>

#include "gateway/module.h"
#include "sinks/bridge/bridge.h"
#include "sinks/log/log.h"
#include "sinks/log/page.h"
#include "sinks/mqtt/mqtt.h"
#include "sources/ansible/ansible.h"
#include "sources/gerrit/gerrit.h"
#include "sources/launchpad/launchpad.h"
#include "sources/subunit/subunit.h"

const struct fh_sink_ops *const fh_sinks[] = {
	&fh_sink_mqtt,
	&fh_sink_log,
	&fh_sink_page,
	&fh_sink_bridge,	/* last: its notifications reach the others */
	NULL
};

const struct fh_source_ops *const fh_sources[] = {
	&fh_source_ansible,
	&fh_source_gerrit,
	&fh_source_launchpad,
	&fh_source_subunit,
	NULL
};
