/*
 * $SYS/broker/... topics, published every sys_interval, and the counters
 * as JSON (mqtt_broker_stats) for the sink's stats.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <jansson.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

static void	sys_pub(struct mqtt_broker *, const char *name,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
sys_pub_topic(struct mqtt_broker *b, const char *topic, const char *val,
    size_t len)
{
	struct fh_event	*ev;

	ev = fh_event_create_raw(topic, val, len);
	fh_event_set_retain(ev, true);
	fh_event_set_origin(ev, "$SYS");
	b->sys_msgs++;
	mqtt_broker_publish(b, ev);	/* broker-internal: not on the bus */
	fh_event_unref(ev);
}

static void
sys_pub(struct mqtt_broker *b, const char *name, const char *fmt, ...)
{
	char		 topic[128], val[128];
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	snprintf(topic, sizeof topic, "$SYS/broker/%s", name);
	sys_pub_topic(b, topic, val, n < 0 ? 0 : (size_t)n);
}

/* Every counter of the other modules (sources, the bridge and log sinks),
 * as $SYS/firehose/<sources|sinks>/<name>/<key>/...: a level per JSON
 * object, the value as text. The broker's own are under $SYS/broker. */
static void
sys_pub_json(struct mqtt_broker *b, const char *topic, json_t *v,
    int depth)
{
	const char	*key;
	json_t		*sub;
	char		*t, val[64];
	int		 n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth >= 8)
			return;
		json_object_foreach(v, key, sub) {
			t = fh_xasprintf("%s/%s", topic, key);
			sys_pub_json(b, t, sub, depth + 1);
			free(t);
		}
		return;
	case JSON_INTEGER:
		n = snprintf(val, sizeof val, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		n = snprintf(val, sizeof val, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		n = snprintf(val, sizeof val, "%d", json_is_true(v));
		break;
	case JSON_STRING:
		sys_pub_topic(b, topic, json_string_value(v),
		    json_string_length(v));
		return;
	default:
		return;
	}
	sys_pub_topic(b, topic, val, n < 0 ? 0 : (size_t)n);
}

static void
sys_modules(struct mqtt_broker *b)
{
	json_t		*stats, *sinks;
	const char	*name;
	json_t		*o;

	if (b->gw == NULL)
		return;
	stats = fh_gateway_stats(b->gw);
	sys_pub_json(b, "$SYS/firehose/sources",
	    json_object_get(stats, "sources"), 0);
	sinks = json_object_get(stats, "sinks");
	json_object_foreach(sinks, name, o) {
		char	*t;

		if (strcmp(name, "mqtt") == 0)
			continue;	/* this broker: $SYS/broker/... */
		t = fh_xasprintf("$SYS/firehose/sinks/%s", name);
		sys_pub_json(b, t, o, 0);
		free(t);
	}
	json_decref(stats);
}

static void
sys_load_update(struct mqtt_load *l, uint64_t now_count, double dt)
{
	double	per_min, e1, e5, e15;

	if (dt <= 0)
		return;
	per_min = (double)(now_count - l->last) * 60.0 / dt;
	l->last = now_count;
	e1 = exp(-dt / 60.0);
	e5 = exp(-dt / 300.0);
	e15 = exp(-dt / 900.0);
	l->m1 = l->m1 * e1 + per_min * (1 - e1);
	l->m5 = l->m5 * e5 + per_min * (1 - e5);
	l->m15 = l->m15 * e15 + per_min * (1 - e15);
}

static void
sys_load(struct mqtt_broker *b, const char *name,
    const struct mqtt_load *l)
{
	char	t[96];

	snprintf(t, sizeof t, "load/%s/1min", name);
	sys_pub(b, t, "%.2f", l->m1);
	snprintf(t, sizeof t, "load/%s/5min", name);
	sys_pub(b, t, "%.2f", l->m5);
	snprintf(t, sizeof t, "load/%s/15min", name);
	sys_pub(b, t, "%.2f", l->m15);
}

void
sys_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;
	double			 now = b->gw ? fh_gateway_uptime(b->gw) : 0;
	double			 dt = now - b->last_sys;
	size_t			 active = 0;
	struct mqtt_conn	*c;

	(void)fd;
	(void)what;
	b->last_sys = now;
	limits_mem_over(b);	/* notice (and log) a ceiling left behind */
	TAILQ_FOREACH(c, &b->conns, entry)
		if (c->state == CONN_ACTIVE)
			active++;
	sys_load_update(&b->load_msgs_in, b->msgs_in, dt);
	sys_load_update(&b->load_msgs_out, b->msgs_out, dt);
	sys_load_update(&b->load_pkts_in, b->pkts_in, dt);
	sys_load_update(&b->load_pkts_out, b->pkts_out, dt);
	sys_load_update(&b->load_bytes_in, b->bytes_in, dt);
	sys_load_update(&b->load_bytes_out, b->bytes_out, dt);
	sys_load_update(&b->load_conns, b->conns_total, dt);
	sys_pub(b, "version", "firehosed %s", PACKAGE_VERSION);
	sys_pub(b, "uptime", "%.0f seconds", now);
	sys_pub(b, "clients/connected", "%zu", active);
	sys_pub(b, "clients/active", "%zu", active);
	sys_pub(b, "clients/total", "%zu", b->nsessions);
	sys_pub(b, "clients/disconnected", "%zu",
	    b->nsessions > active ? b->nsessions - active : 0);
	sys_pub(b, "clients/maximum", "%zu", b->maxconns);
	sys_pub(b, "clients/refused/session_owner", "%llu",
	    (unsigned long long)b->refused_owner);
	/* As Mosquitto: messages/ counts every MQTT packet,
	 * publish/messages/ only PUBLISH. */
	sys_pub(b, "messages/received", "%llu",
	    (unsigned long long)b->pkts_in);
	sys_pub(b, "messages/sent", "%llu",
	    (unsigned long long)b->pkts_out);
	sys_pub(b, "publish/messages/received", "%llu",
	    (unsigned long long)b->msgs_in);
	sys_pub(b, "publish/messages/sent", "%llu",
	    (unsigned long long)b->msgs_out);
	sys_pub(b, "clients/expired", "%llu",
	    (unsigned long long)b->sessions_expired);
	sys_pub(b, "publish/messages/dropped", "%llu",
	    (unsigned long long)(b->drop_qos0_slow + b->drop_queue_full +
	    b->drop_queue_bytes + b->drop_memory + b->drop_qos0_memory));
	sys_pub(b, "bytes/received", "%llu",
	    (unsigned long long)b->bytes_in);
	sys_pub(b, "bytes/sent", "%llu",
	    (unsigned long long)b->bytes_out);
	sys_pub(b, "subscriptions/count", "%zu",
	    topic_subscription_count(b->topics));
	sys_pub(b, "retained messages/count", "%zu",
	    topic_retain_count(b->topics));
	sys_load(b, "messages/received", &b->load_pkts_in);
	sys_load(b, "messages/sent", &b->load_pkts_out);
	sys_load(b, "publish/received", &b->load_msgs_in);
	sys_load(b, "publish/sent", &b->load_msgs_out);
	sys_load(b, "bytes/received", &b->load_bytes_in);
	sys_load(b, "bytes/sent", &b->load_bytes_out);
	sys_load(b, "connections", &b->load_conns);
	sys_modules(b);
}

/* The 5.0 publish/subscribe counters, into the objects they belong to. */
static void
sys_stats5(struct mqtt_broker *b, json_t *out)
{
	json_t	*dropped = json_object_get(out, "dropped");
	json_t	*errors = json_object_get(out, "errors");

	if (dropped != NULL) {
		json_object_set_new(dropped, "expired",
		    json_integer((json_int_t)b->drop_expired));
		json_object_set_new(dropped, "payload_format",
		    json_integer((json_int_t)b->drop_payload_format));
	}
	if (errors != NULL)
		json_object_set_new(errors, "topic_alias",
		    json_integer((json_int_t)b->err_topic_alias));
	json_object_set_new(out, "shared_resent",
	    json_integer((json_int_t)b->shared_resent));
}

void
mqtt_broker_stats(struct mqtt_broker *b, json_t *out)
{
	struct mqtt_lstat	*l;
	json_t			*conns = json_object();

	for (l = b->lstats; l != NULL; l = l->next)
		json_object_set_new(conns, l->name, json_pack("{s:I,s:I}",
		    "current", (json_int_t)l->current,
		    "total", (json_int_t)l->total));
	json_object_set_new(out, "connections", conns);
	json_object_set_new(out, "clients_connected",
	    json_integer((json_int_t)b->nconns));
	json_object_set_new(out, "sessions",
	    json_integer((json_int_t)b->nsessions));
	json_object_set_new(out, "subscriptions",
	    json_integer((json_int_t)topic_subscription_count(b->topics)));
	json_object_set_new(out, "retained",
	    json_integer((json_int_t)topic_retain_count(b->topics)));
	json_object_set_new(out, "messages_received",
	    json_integer((json_int_t)b->msgs_in));
	json_object_set_new(out, "messages_sent",
	    json_integer((json_int_t)b->msgs_out));
	json_object_set_new(out, "bytes_received",
	    json_integer((json_int_t)b->bytes_in));
	json_object_set_new(out, "bytes_sent",
	    json_integer((json_int_t)b->bytes_out));
	json_object_set_new(out, "dropped", json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "qos0_slow_consumer", (json_int_t)b->drop_qos0_slow,
	    "qos0_memory", (json_int_t)b->drop_qos0_memory,
	    "queue_full", (json_int_t)b->drop_queue_full,
	    "queue_bytes", (json_int_t)b->drop_queue_bytes,
	    "memory_limit", (json_int_t)b->drop_memory,
	    "anonymous_publish", (json_int_t)b->drop_anonymous,
	    "acl_denied", (json_int_t)b->drop_acl,
	    "slow_consumer_disconnect", (json_int_t)b->drop_slow_disconnect));
	json_object_set_new(out, "errors", json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "malformed", (json_int_t)b->err_malformed,
	    "memory_limit", (json_int_t)b->refused_memory,
	    "protocol", (json_int_t)b->err_protocol,
	    "too_large", (json_int_t)b->err_too_large,
	    "auth_failed", (json_int_t)b->err_auth,
	    "max_connections", (json_int_t)b->refused_max_conns,
	    "keepalive_expired", (json_int_t)b->keepalive_expired,
	    "session_owner", (json_int_t)b->refused_owner));
	json_object_set_new(out, "mqtt5", json_pack("{s:I,s:I,s:I,s:I,s:I}",
	    "too_large_for_client", (json_int_t)b->drop_too_large_out,
	    "receive_maximum_exceeded", (json_int_t)b->err_receive_max,
	    "disconnects_sent", (json_int_t)b->disconnects_sent,
	    "wills_delayed", (json_int_t)b->wills_delayed,
	    "wills_sent", (json_int_t)b->wills_sent));
	sys_stats5(b, out);
	json_object_set_new(out, "sessions_expired",
	    json_integer((json_int_t)b->sessions_expired));
	json_object_set_new(out, "sessions_full",
	    json_integer((json_int_t)b->sessions_full));
	json_object_set_new(out, "parked", json_pack("{s:I,s:I,s:I}",
	    "current", (json_int_t)b->nparked,
	    "total", (json_int_t)b->parked_total,
	    "woken", (json_int_t)b->parked_woken));
	json_object_set_new(out, "memory", json_pack("{s:I,s:I,s:I,s:I}",
	    "used", (json_int_t)limits_mem_used(b),
	    "queued", (json_int_t)b->mem_queued,
	    "output", (json_int_t)b->mem_out,
	    "max", (json_int_t)b->conf.max_memory));
	if (b->st != NULL)
		json_object_set_new(out, "durable", json_pack(
		    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		    "acks_deferred", (json_int_t)b->acks_deferred,
		    "acks_failed", (json_int_t)b->acks_failed,
		    "restored_sessions", (json_int_t)b->restored_sessions,
		    "restored_messages", (json_int_t)b->restored_msgs,
		    "restored_retained", (json_int_t)b->restored_retained,
		    "restored_expired", (json_int_t)b->restored_expired,
		    "restored_wills", (json_int_t)b->restored_wills));
}
