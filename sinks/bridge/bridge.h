/* The bridge sink: [bridge NAME] sections, MQTT clients to other brokers. */
#ifndef BRIDGE_BRIDGE_H
#define BRIDGE_BRIDGE_H

#include "gateway/module.h"

extern const struct fh_sink_ops fh_sink_bridge;

#endif
