/*
 * The mqtt sink: owns [broker] and every [listener NAME], builds the
 * broker and its listeners, and hands every bus event to the broker.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker.h"
#include "sinks/mqtt/listener.h"
#include "sinks/mqtt/mqtt.h"

#define MQTT_MAX_PACKET	268435455	/* 4-byte remaining length + 5 */

static const struct fh_conf_var mqtt_broker_vars[] = {
	FH_CONF_BOOL("allow_anonymous", struct mqtt_broker_conf,
	    allow_anonymous, "true",
	    "Clients without a verified user name may connect and "
	    "subscribe. false: they get CONNACK 5 (not authorized)."),
	FH_CONF_BOOL("anonymous_publish", struct mqtt_broker_conf,
	    anonymous_publish, "false",
	    "false: a PUBLISH from an anonymous client is acknowledged as "
	    "the protocol requires, then dropped and counted; only "
	    "sources and authenticated users publish."),
	FH_CONF_STR("password_file", struct mqtt_broker_conf, password_file,
	    "",
	    "Mosquitto password file (mosquitto_passwd, $6$ or $7$ "
	    "hashes). Users in it who give the right password are "
	    "authenticated. Reloaded on SIGHUP."),
	FH_CONF_STR("acl_file", struct mqtt_broker_conf, acl_file, "",
	    "Mosquitto ACL file (user, topic, pattern with %u and %c). "
	    "Empty: authenticated users publish anywhere, everyone reads "
	    "everything. Reloaded on SIGHUP."),
	FH_CONF_INT("max_connections", struct mqtt_broker_conf,
	    max_connections, "0",
	    "Connections over this are closed at once, counted, logged "
	    "once. 0: unlimited."),
	FH_CONF_SIZE("max_packet_size", struct mqtt_broker_conf,
	    max_packet_size, "1M",
	    "A packet whose fixed header announces more than this closes "
	    "the connection before its body is read."),
	FH_CONF_INT("max_queued_messages", struct mqtt_broker_conf,
	    max_queued_messages, "1000",
	    "Per session: QoS 1/2 messages kept while the client is "
	    "offline or its window is full; over it, see the overflow "
	    "policy in docs/durability.md."),
	FH_CONF_SIZE("max_queued_bytes", struct mqtt_broker_conf,
	    max_queued_bytes, "16M",
	    "Per session: bytes of QoS 1/2 messages queued or in flight."),
	FH_CONF_SIZE("max_memory", struct mqtt_broker_conf, max_memory,
	    "0",
	    "Whole broker: queued bytes of every session plus every "
	    "client's output buffer. Over it QoS 0 to clients with a "
	    "backlog is dropped. 0: no limit."),
	FH_CONF_INT("max_inflight_messages", struct mqtt_broker_conf,
	    max_inflight_messages, "20",
	    "Per session: QoS 1/2 messages sent and not yet acknowledged "
	    "(1 to 65535)."),
	FH_CONF_BOOL("retain", struct mqtt_broker_conf, retain, "true",
	    "Keep retained messages. false: the retain flag is ignored."),
	FH_CONF_DURATION("sys_interval", struct mqtt_broker_conf,
	    sys_interval, "10s",
	    "Publish $SYS/broker/... (retained) this often. 0: off."),
	FH_CONF_SIZE("max_output_buffer", struct mqtt_broker_conf,
	    max_output_buffer, "1M",
	    "Slow subscribers, soft limit: while more than this waits to "
	    "be written to a client, QoS 0 messages to it are dropped and "
	    "counted."),
	FH_CONF_SIZE("max_output_buffer_hard", struct mqtt_broker_conf,
	    max_output_buffer_hard, "64M",
	    "Slow subscribers, hard limit: a client with more than this "
	    "waiting is disconnected."),
	FH_CONF_DURATION("connect_timeout", struct mqtt_broker_conf,
	    connect_timeout, "10s",
	    "A connection that has not sent CONNECT by then is closed."),
	FH_CONF_DURATION("session_expiry", struct mqtt_broker_conf,
	    session_expiry, "1d",
	    "An offline persistent session (clean session 0) not resumed "
	    "within this is dropped with its queue. 0: never. A 5.0 "
	    "client's Session Expiry Interval is its own, but no longer "
	    "than this."),
	FH_CONF_INT("max_keepalive", struct mqtt_broker_conf, max_keepalive,
	    "0",
	    "Seconds (0 to 65535; 0: any). A 5.0 client asking for more "
	    "or none is held to this (Server Keep Alive); a 3.1/3.1.1 "
	    "one gets CONNACK 2, as with Mosquitto."),
	FH_CONF_SIZE("max_inflight_bytes", struct mqtt_broker_conf,
	    max_inflight_bytes, "0",
	    "Per session: no more QoS 1/2 messages are sent while their "
	    "payloads in flight add up to this (one always goes). 0: no "
	    "limit."),
	FH_CONF_BOOL("allow_zero_length_clientid", struct mqtt_broker_conf,
	    allow_zero_length_clientid, "true",
	    "An empty client id gets an assigned auto-... one (3.1.1 with "
	    "clean session only; 5.0 always, sent back in CONNACK). "
	    "false: refused."),
	FH_CONF_BOOL("upgrade_outgoing_qos", struct mqtt_broker_conf,
	    upgrade_outgoing_qos, "false",
	    "true: messages go to a subscriber at its subscription's QoS "
	    "even when published at a lower one."),
	FH_CONF_INT_RANGE("max_topic_alias", struct mqtt_broker_conf,
	    max_topic_alias, "10", 0, 1024,
	    "Topic aliases a 5.0 client may use toward the broker (its "
	    "CONNACK Topic Alias Maximum; 0 to 1024). 0: none."),
	FH_CONF_END
};

struct mqtt {
	struct fh_gateway	 *gw;
	struct mqtt_broker_conf	  conf;
	struct mqtt_broker	 *broker;
	struct mqtt_listener	**listeners;
	size_t			  nlisteners;
	struct mqtt_auth	 *auth;		/* the broker's; for readers */
};

/* The gateway's reader seam: HTTP replay applies the broker's rules. */
static int
mqtt_reader_login(void *arg, const char *user, const char *pw, size_t len)
{
	struct mqtt	*m = arg;

	if (user == NULL)
		return m->conf.allow_anonymous ? 0 : -1;
	return mqtt_auth_check_password(m->auth, user, (const uint8_t *)pw,
	    len);
}

static bool
mqtt_reader_may_read(void *arg, const char *user, const char *topic)
{
	struct mqtt	*m = arg;

	return mqtt_auth_acl_check(m->auth, user, NULL, topic, MQTT_ACL_READ);
}

static const struct fh_reader_ops mqtt_readers = {
	.login = mqtt_reader_login,
	.may_read = mqtt_reader_may_read,
};

static void *
mqtt_create(struct fh_gateway *gw)
{
	struct mqtt	*m = fh_xcalloc(1, sizeof *m);

	m->gw = gw;
	return m;
}

static int
mqtt_range(const struct fh_section *sec, const char *key, long v, long lo,
    long hi, char **errstr)
{
	if (v >= lo && v <= hi)
		return 0;
	return fh_conf_error(errstr, sec, key, "%s must be between %ld and "
	    "%ld", key, lo, hi);
}

/* [broker]: apply the table, then the ranges the table cannot say. */
static int
mqtt_broker_conf_load(const struct fh_conf *conf,
    struct mqtt_broker_conf *bc, char **errstr)
{
	const struct fh_section	*sec = fh_conf_find(conf, "broker");

	if (sec != NULL && fh_section_name(sec)[0] != '\0')
		return fh_conf_error(errstr, sec, NULL,
		    "[broker] takes no name");
	if (fh_conf_apply(sec, mqtt_broker_vars, bc, errstr) != 0)
		return -1;
	/* The default limit is kept without being announced, as
	 * Mosquitto's message_size_limit is, so that a 5.0 client sees
	 * Mosquitto's CONNACK; a limit the operator sets is announced. */
	bc->announce_max_packet = sec != NULL &&
	    fh_section_get(sec, "max_packet_size") != NULL;
	if (mqtt_range(sec, "max_connections", bc->max_connections, 0,
	    10000000, errstr) != 0 ||
	    mqtt_range(sec, "max_packet_size", (long)(bc->max_packet_size >
	    MQTT_MAX_PACKET ? MQTT_MAX_PACKET + 1L : bc->max_packet_size),
	    16, MQTT_MAX_PACKET, errstr) != 0 ||
	    mqtt_range(sec, "max_queued_messages", bc->max_queued_messages,
	    0, 10000000, errstr) != 0 ||
	    mqtt_range(sec, "max_inflight_messages",
	    bc->max_inflight_messages, 1, 65535, errstr) != 0 ||
	    mqtt_range(sec, "connect_timeout", bc->connect_timeout, 1,
	    3600000, errstr) != 0 ||
	    mqtt_range(sec, "max_keepalive", bc->max_keepalive, 0, 65535,
	    errstr) != 0)
		return -1;
	if (bc->max_output_buffer_hard != 0 &&
	    bc->max_output_buffer_hard < bc->max_output_buffer)
		return fh_conf_error(errstr, sec, "max_output_buffer_hard",
		    "max_output_buffer_hard is smaller than "
		    "max_output_buffer");
	return 0;
}

static int
mqtt_bind_key(const char *bind, char **key)
{
	char	*host;
	int	 port;

	if (fh_parse_hostport(bind, &host, &port) != 0)
		return -1;
	*key = fh_xasprintf("%s:%d", *host ? host : "0.0.0.0", port);
	free(host);
	return 0;
}

static int
mqtt_configure(void *self, const struct fh_conf *conf, char **errstr)
{
	struct mqtt		*m = self;
	const struct fh_section	*sec;
	struct mqtt_auth	*auth;
	char			*key, *other, *err = NULL;
	size_t			 i;

	if (mqtt_broker_conf_load(conf, &m->conf, errstr) != 0)
		return -1;
	if ((auth = mqtt_auth_load(m->conf.password_file, m->conf.acl_file,
	    &err)) == NULL) {
		/* The file's own line is in err; say which key of which
		 * config line named the file, too. */
		const char	*what = "password_file";
		size_t		 n = m->conf.acl_file != NULL ?
		    strlen(m->conf.acl_file) : 0;

		if (n > 0 && strncmp(err, m->conf.acl_file, n) == 0 &&
		    err[n] == ':')
			what = "acl_file";
		fh_conf_error(errstr, fh_conf_find(conf, "broker"), what,
		    "%s %s", what, err);
		free(err);
		return -1;
	}
	m->broker = mqtt_broker_create(m->gw, &m->conf);
	mqtt_broker_set_auth(m->broker, auth);
	m->auth = auth;
	fh_gateway_set_readers(m->gw, &mqtt_readers, m);

	for (sec = NULL; (sec = fh_conf_next(conf, sec, "listener")) != NULL;) {
		struct mqtt_listener *l;

		/* The name is in the logs, the stats and /metrics labels. */
		if (fh_section_name(sec)[0] == '\0')
			return fh_conf_error(errstr, sec, NULL, "[listener] "
			    "needs a name, as in [listener mqtt]");
		l = mqtt_listener_create(m->gw, sec, mqtt_broker_accept,
		    m->broker, errstr);
		if (l == NULL)
			return -1;
		m->listeners = fh_xrealloc(m->listeners,
		    (m->nlisteners + 1) * sizeof *m->listeners);
		m->listeners[m->nlisteners++] = l;
		mqtt_broker_add_listener(m->broker, mqtt_listener_name(l));
		if (mqtt_bind_key(mqtt_listener_bind(l), &key) != 0)
			continue;	/* the listener reported it */
		for (i = 0; i + 1 < m->nlisteners; i++) {
			if (mqtt_bind_key(mqtt_listener_bind(m->listeners[i]),
			    &other) != 0)
				continue;
			if (strcmp(key, other) == 0) {
				fh_conf_error(errstr, sec, "bind", "duplicate "
				    "listener address %s (also [listener %s])",
				    key, mqtt_listener_name(m->listeners[i]));
				free(other);
				free(key);
				return -1;
			}
			free(other);
		}
		free(key);
	}
	return 0;
}

static int
mqtt_start(void *self)
{
	struct mqtt	*m = self;
	size_t		 i;

	if (mqtt_broker_start(m->broker) != 0)
		return -1;
	for (i = 0; i < m->nlisteners; i++)
		if (mqtt_listener_start(m->listeners[i]) != 0)
			return -1;
	return 0;
}

static void
mqtt_stop(void *self)
{
	struct mqtt	*m = self;
	size_t		 i;

	for (i = 0; i < m->nlisteners; i++)
		mqtt_listener_stop(m->listeners[i]);
	if (m->broker != NULL)
		mqtt_broker_stop(m->broker);
}

static void
mqtt_destroy(void *self)
{
	struct mqtt	*m = self;
	size_t		 i;

	if (m == NULL)
		return;
	fh_gateway_set_readers(m->gw, NULL, NULL);
	for (i = 0; i < m->nlisteners; i++)
		mqtt_listener_free(m->listeners[i]);
	free(m->listeners);
	mqtt_broker_free(m->broker);
	fh_conf_clear(mqtt_broker_vars, &m->conf);
	free(m);
}

static int
mqtt_publish(void *self, struct fh_event *ev)
{
	struct mqtt	*m = self;

	return m->broker ? mqtt_broker_publish(m->broker, ev) : 0;
}

/* SIGHUP: the password file and the ACL, for new checks; nobody drops. */
static int
mqtt_reload(void *self, const struct fh_conf *conf, char **errstr)
{
	struct mqtt		*m = self;
	struct mqtt_broker_conf	 bc;
	struct mqtt_auth	*auth;
	size_t			 i;

	memset(&bc, 0, sizeof bc);
	if (mqtt_broker_conf_load(conf, &bc, errstr) != 0) {
		fh_conf_clear(mqtt_broker_vars, &bc);
		return -1;
	}
	auth = mqtt_auth_load(bc.password_file, bc.acl_file, errstr);
	if (auth == NULL) {
		fh_conf_clear(mqtt_broker_vars, &bc);
		return -1;
	}
	fh_log(LOG_INFO, "mqtt: reloaded %zu users%s%s",
	    mqtt_auth_user_count(auth), mqtt_auth_has_acl(auth) ?
	    " and the ACL from " : "", mqtt_auth_has_acl(auth) ?
	    bc.acl_file : "");
	mqtt_broker_set_auth(m->broker, auth);
	m->auth = auth;
	fh_conf_clear(mqtt_broker_vars, &bc);
	for (i = 0; i < m->nlisteners; i++) {
		const struct fh_section *sec = NULL;

		while ((sec = fh_conf_next(conf, sec, "listener")) != NULL)
			if (strcmp(fh_section_name(sec),
			    mqtt_listener_name(m->listeners[i])) == 0)
				break;
		if (sec != NULL && mqtt_listener_reload(m->listeners[i], sec,
		    errstr) != 0)
			return -1;
	}
	return 0;
}

static void
mqtt_stats(void *self, json_t *out)
{
	struct mqtt	*m = self;
	json_t		*ls = json_object(), *o;
	size_t		 i;

	if (m->broker != NULL)
		mqtt_broker_stats(m->broker, out);
	for (i = 0; i < m->nlisteners; i++) {
		o = json_object();
		mqtt_listener_stats(m->listeners[i], o);
		json_object_set_new(ls, mqtt_listener_name(m->listeners[i]), o);
	}
	json_object_set_new(out, "listeners", ls);
}

static const char *const mqtt_sections[] = { "broker", "listener", NULL };

static const struct fh_conf_schema mqtt_schema[] = {
	{ .section = "broker",
	  .doc = "The embedded MQTT 3.1/3.1.1 broker: authentication, "
	    "limits, retained messages, sessions. One section, optional.",
	  .vars = mqtt_broker_vars },
	{ .section = "listener NAME",
	  .doc = "One listening socket; as many as wanted. The TLS keys "
	    "apply to mqtts and wss only, the WebSocket keys to ws and "
	    "wss only.",
	  .vars = mqtt_listener_vars },
	{ .section = NULL }
};

const struct fh_sink_ops fh_sink_mqtt = {
	.name = "mqtt",
	.sections = mqtt_sections,
	.schema = mqtt_schema,
	/* MQTT on 1883 and MQTT over WebSocket (plus the pages) on 8080. */
	.default_conf =
	    "[broker]\n"
	    "allow_anonymous = true\n"
	    "anonymous_publish = false\n"
	    "[listener mqtt]\n"
	    "protocol = mqtt\n"
	    "bind = 127.0.0.1:1883\n"
	    "[listener websockets]\n"
	    "protocol = ws\n"
	    "bind = 127.0.0.1:8080\n"
	    "path = /mqtt\n",
	.create = mqtt_create,
	.configure = mqtt_configure,
	.start = mqtt_start,
	.stop = mqtt_stop,
	.destroy = mqtt_destroy,
	.publish = mqtt_publish,
	.reload = mqtt_reload,
	.stats = mqtt_stats,
};
