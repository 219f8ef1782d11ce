/*
 * CONNACK.
 */


#include "config.h"
#include "sinks/mqtt/broker_int.h"

void
send_connack(struct mqtt_conn *c, bool sp, uint8_t rc)
{
	uint8_t	buf[4];

	broker_write(c, buf, mqtt_encode_connack(buf, sizeof buf,
	    c->level == MQTT_PROTO_311 ? sp : false, rc));
}
