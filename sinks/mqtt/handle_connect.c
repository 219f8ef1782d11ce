/*
 * CONNECT: the client id (assigned when empty), authentication (password
 * file or client certificate), session takeover, clean or resumed
 * session, the will, keep alive; then CONNACK and the resend of what
 * was in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <openssl/rand.h>

#include "config.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

void
handle_connect_refuse(struct mqtt_conn *c, uint8_t rc, const char *why)
{
	send_connack(c, false, rc);
	fh_log(LOG_INFO, "mqtt %s (%s): CONNECT refused (%u): %s",
	    c->client_id ? c->client_id : "-", c->addr, rc, why);
	broker_conn_close(c, NULL, false);
}

/*
 * A persistent session an authenticated user owns stays theirs, across
 * restarts too (its owner is stored): an anonymous client or another user
 * taking the client id over would read its queued messages, change its
 * subscriptions or discard it.
 */
static bool
handle_connect_may_take(const struct mqtt_session *s, const char *user)
{
	if (s->clean || s->username == NULL)
		return true;
	return user != NULL && strcmp(user, s->username) == 0;
}

void
handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s;
	struct mqtt_out		*o;
	struct timeval		 tv;
	char			*user = NULL;
	bool			 present = false;

	c->level = p->level;
	if (limits_mem_over(b)) {
		/* logged when the state changed, not per client */
		b->refused_memory++;
		send_connack(c, false, MQTT_CONNACK_UNAVAILABLE);
		broker_conn_close(c, NULL, false);
		return;
	}
	if (p->client_id.len == 0) {
		if (p->level == MQTT_PROTO_31 || !p->clean) {
			handle_connect_refuse(c, MQTT_CONNACK_IDENTIFIER,
			    "empty client id");
			return;
		}
		uint8_t	rnd[8] = { 0 };

		/* unguessable, so that nobody can take it over on purpose */
		if (RAND_bytes(rnd, sizeof rnd) != 1)
			memcpy(rnd, &b->auto_id, sizeof rnd);
		b->auto_id++;
		c->client_id = fh_xasprintf("auto-%02x%02x%02x%02x%02x%02x"
		    "%02x%02x-%llu", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		    rnd[5], rnd[6], rnd[7], (unsigned long long)b->auto_id);
	} else
		c->client_id = fh_xstrndup((const char *)p->client_id.p,
		    p->client_id.len);
	if (p->level == MQTT_PROTO_31 && p->client_id.len > 23) {
		handle_connect_refuse(c, MQTT_CONNACK_IDENTIFIER,
		    "3.1 client id longer than 23 bytes");
		return;
	}

	if (c->cert_cn != NULL) {
		/* use_identity_as_username: the verified client
		 * certificate is the credential, its CN the user. */
		user = fh_xstrdup(c->cert_cn);
		c->authenticated = true;
	} else if (p->has_username)
		user = fh_xstrndup((const char *)p->username.p,
		    p->username.len);
	if (c->cert_cn != NULL) {
		/* authenticated above */
	} else if (user != NULL && b->auth != NULL &&
	    mqtt_auth_has_passwords(b->auth)) {
		if (!p->has_password || mqtt_auth_check_password(b->auth,
		    user, p->password.p, p->password.len) != 0) {
			b->err_auth++;
			free(user);
			handle_connect_refuse(c, MQTT_CONNACK_CREDENTIALS,
			    "bad user name or password");
			return;
		}
		c->authenticated = true;
	} else {
		/* a user name nobody can verify is anonymous */
		free(user);
		user = NULL;
	}
	if (!c->authenticated && !b->conf.allow_anonymous) {
		b->err_auth++;
		handle_connect_refuse(c, MQTT_CONNACK_NOT_AUTHORIZED,
		    "anonymous clients not allowed");
		return;
	}

	s = session_find(b, c->client_id);
	if (s != NULL && !handle_connect_may_take(s, user)) {
		b->refused_owner++;
		free(user);
		handle_connect_refuse(c, MQTT_CONNACK_NOT_AUTHORIZED,
		    "client id in use by another user's persistent session");
		return;
	}
	if (s != NULL && s->conn != NULL) {
		struct mqtt_conn *old = s->conn;

		fh_log(LOG_INFO, "mqtt %s: taken over by %s (was %s)",
		    c->client_id, c->addr, old->addr);
		broker_conn_detach(old);
		broker_conn_close(old, NULL, true);
	}
	/* a clean session lasts as long as its connection [MQTT-3.1.2-6] */
	if (s != NULL && (p->clean || s->clean)) {
		if (persist_is_durable(s))
			mqtt_store_session_del(b->store, s->id);
		session_free(s);
		s = NULL;
	}
	if (s == NULL)
		s = session_create(b, c->client_id);
	else
		present = true;
	s->clean = p->clean;
	free(s->username);
	s->username = user;
	s->conn = c;
	c->sess = s;
	if (persist_is_durable(s))
		persist_session(s, true);

	if (p->will) {
		c->has_will = true;
		c->will_topic = fh_xstrndup((const char *)p->will_topic.p,
		    p->will_topic.len);
		c->will_len = p->will_payload.len;
		c->will_payload = fh_xmalloc(c->will_len ? c->will_len : 1);
		if (c->will_len > 0)
			memcpy(c->will_payload, p->will_payload.p, c->will_len);
		c->will_qos = p->will_qos;
		c->will_retain = p->will_retain;
		if (!deliver_may_write(c, c->will_topic))
			c->has_will = false;
	}
	c->keepalive = p->keepalive;
	if (c->keepalive > 0) {
		/* [MQTT-3.1.2-24]: one and a half times the keep alive */
		long ms = (long)c->keepalive * 1500;

		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		bufferevent_set_timeouts(c->bev, &tv, NULL);
	} else
		bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->state = CONN_ACTIVE;
	send_connack(c, present, MQTT_CONNACK_ACCEPTED);
	fh_log(LOG_DEBUG, "mqtt %s (%s): connected, %s, %s, keepalive %u%s",
	    c->client_id, c->addr, p->level == MQTT_PROTO_31 ? "3.1" : "3.1.1",
	    c->authenticated ? s->username : "anonymous", c->keepalive,
	    present ? ", session resumed" : "");

	/* resume: in-flight messages again, with DUP, in order */
	TAILQ_FOREACH(o, &s->inflight, entry)
		session_out_send(s, o, true);
	session_pump(s);
}
