/*
 * A client's DISCONNECT. 3.1/3.1.1: the will is dropped [MQTT-3.14.4-3].
 * 5.0 (section 3.14): reason 0x00 drops the will, any other reason (0x04
 * "with will message", or an error the client reports) keeps it, so it
 * is published as for a lost connection [MQTT-3.1.2-8]; a Session Expiry
 * Interval replaces the one from CONNECT, except that one set to 0 there
 * cannot be raised here (protocol error 0x82) [MQTT-3.14.2-2].
 */
#include "config.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "sinks/mqtt/store.h"
#include "sinks/mqtt/broker_int.h"

void
handle_disconnect(struct mqtt_conn *c, const struct mqtt_ack *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s = c->sess;
	uint32_t		 expiry;
	bool			 durable;

	if (c->level != MQTT_PROTO_5) {
		will_free(c->will);
		c->will = NULL;
		broker_conn_close(c, "disconnected", false);
		return;
	}
	if (mqtt_props_has(&p->props, MQTT_PROP_SESSION_EXPIRY)) {
		expiry = p->props.session_expiry;
		if (c->session_expiry == 0 && expiry != 0) {
			b->err_protocol++;
			broker_conn_disconnect(c, MQTT_RC_PROTOCOL_ERROR,
			    "session expiry set in DISCONNECT after 0 in "
			    "CONNECT", true);
			return;
		}
		if (b->conf.session_expiry > 0 && (expiry ==
		    SESSION_EXPIRY_NEVER || (int64_t)expiry * 1000 >
		    b->conf.session_expiry))
			expiry = (uint32_t)((b->conf.session_expiry + 999) /
			    1000);
		durable = persist_is_durable(s);
		c->session_expiry = expiry;
		s->clean = expiry == 0;
		s->expiry_ms = expiry == SESSION_EXPIRY_NEVER ? -1 :
		    (int64_t)expiry * 1000;
		/* now ending with the connection: out of the store */
		if (durable && s->clean)
			mqtt_store_session_del(b->store, s->id);
	}
	if (p->reason == MQTT_RC_SUCCESS) {
		will_free(c->will);
		c->will = NULL;
		broker_conn_close(c, "disconnected", false);
		return;
	}
	fh_log(LOG_DEBUG, "mqtt %s (%s): DISCONNECT with reason 0x%02x",
	    c->client_id, c->addr, p->reason);
	broker_conn_close(c, p->reason == MQTT_RC_DISCONNECT_WITH_WILL ?
	    "disconnected with will" : "disconnected with an error", true);
}
