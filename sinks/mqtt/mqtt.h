/* The embedded MQTT broker, as a sink of the bus. */
#ifndef FH_SINK_MQTT_H
#define FH_SINK_MQTT_H

#include "gateway/module.h"

extern const struct fh_sink_ops fh_sink_mqtt;

#endif
