/* The event log sink: durable log of the bus, replay over HTTP and MQTT. */
#ifndef LOG_LOG_H
#define LOG_LOG_H

#include "gateway/module.h"

extern const struct fh_sink_ops fh_sink_log;

#endif
