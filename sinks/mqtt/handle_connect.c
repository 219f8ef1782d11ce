/*
 * CONNECT: the client id (assigned when empty), authentication (password
 * file or client certificate), session takeover, clean or resumed
 * session, the will, keep alive; then CONNACK and the resend of what
 * was in flight.
 *
 * 5.0 (section 3.1, 3.2): Clean Start and Session Expiry Interval in place
 * of clean session; the client's Receive Maximum, Maximum Packet Size,
 * Topic Alias Maximum and Request Problem/Response Information are kept
 * on the connection; an authentication method gets 0x8C (no enhanced
 * authentication here); refusals are 5.0 reason codes with a reason
 * string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <openssl/rand.h>

#include "config.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

/* A 3.1.1 CONNACK return code as the 5.0 reason code that says it. */
static uint8_t
handle_connect_reason5(uint8_t rc)
{
	switch (rc) {
	case MQTT_CONNACK_PROTOCOL:
		return MQTT_RC_UNSUPPORTED_VERSION;
	case MQTT_CONNACK_IDENTIFIER:
		return MQTT_RC_CLIENT_ID_INVALID;
	case MQTT_CONNACK_UNAVAILABLE:
		return MQTT_RC_SERVER_UNAVAILABLE;
	case MQTT_CONNACK_CREDENTIALS:
		return MQTT_RC_BAD_CREDENTIALS;
	case MQTT_CONNACK_NOT_AUTHORIZED:
		return MQTT_RC_NOT_AUTHORIZED;
	default:
		return rc;	/* a 5.0 reason already */
	}
}

/* rc: a 3.1.1 return code, or for 5.0 only a 5.0 reason (>= 0x80) */
void
handle_connect_refuse(struct mqtt_conn *c, uint8_t rc, const char *why)
{
	if (c->level == MQTT_PROTO_5)
		send_connack5(c, false, handle_connect_reason5(rc), NULL, 0, 0,
		    why);
	else
		send_connack(c, false, rc);
	fh_log(LOG_INFO, "mqtt %s (%s): CONNECT refused (%u): %s",
	    c->client_id ? c->client_id : "-", c->addr,
	    c->level == MQTT_PROTO_5 ? handle_connect_reason5(rc) : rc, why);
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

/* The 5.0 CONNECT properties the connection keeps. */
static void
handle_connect_props5(struct mqtt_conn *c, const struct mqtt_connect *p)
{
	const struct mqtt_props	*pr = &p->props;

	c->recv_max = mqtt_props_has(pr, MQTT_PROP_RECEIVE_MAXIMUM) ?
	    pr->receive_maximum : 65535;
	c->max_packet_out = mqtt_props_has(pr, MQTT_PROP_MAXIMUM_PACKET_SIZE) ?
	    pr->maximum_packet_size : 0;
	c->topic_alias_max_out = mqtt_props_has(pr,
	    MQTT_PROP_TOPIC_ALIAS_MAXIMUM) ? pr->topic_alias_maximum : 0;
	c->problem_info = !mqtt_props_has(pr,
	    MQTT_PROP_REQUEST_PROBLEM_INFO) || pr->request_problem_info;
	c->response_info = mqtt_props_has(pr,
	    MQTT_PROP_REQUEST_RESPONSE_INFO) && pr->request_response_info;
	c->session_expiry = mqtt_props_has(pr, MQTT_PROP_SESSION_EXPIRY) ?
	    pr->session_expiry : 0;
}

/* The client id, assigned when empty; false: refused. */
static bool
handle_connect_client_id(struct mqtt_conn *c, const struct mqtt_connect *p,
    bool *assigned)
{
	struct mqtt_broker	*b = c->b;
	uint8_t			 rnd[16] = { 0 };

	*assigned = false;
	if (p->client_id.len > 0) {
		c->client_id = fh_xstrndup((const char *)p->client_id.p,
		    p->client_id.len);
		if (p->level == MQTT_PROTO_31 && p->client_id.len > 23) {
			handle_connect_refuse(c, MQTT_CONNACK_IDENTIFIER,
			    "3.1 client id longer than 23 bytes");
			return false;
		}
		return true;
	}
	/* 3.1.1 allows an empty id with clean session only; 5.0 with any
	 * Clean Start, the assigned id coming back in CONNACK */
	if (!b->conf.allow_zero_length_clientid || p->level == MQTT_PROTO_31 ||
	    (p->level == MQTT_PROTO_311 && !p->clean)) {
		handle_connect_refuse(c, MQTT_CONNACK_IDENTIFIER,
		    "empty client id");
		return false;
	}
	/* unguessable, so that nobody can take it over on purpose; shaped
	 * as Mosquitto's ("auto-" and a UUID), whose tests compare the
	 * CONNACK up to the id's random part */
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memcpy(rnd, &b->auto_id, sizeof b->auto_id);
	b->auto_id++;
	c->client_id = fh_xasprintf("auto-%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
	    rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10],
	    rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);
	*assigned = p->level == MQTT_PROTO_5;
	return true;
}

/* User name (NULL: anonymous) after authentication; false: refused. */
static bool
handle_connect_auth(struct mqtt_conn *c, const struct mqtt_connect *p,
    char **userp)
{
	struct mqtt_broker	*b = c->b;
	char			*user = NULL;

	*userp = NULL;
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
			return false;
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
		return false;
	}
	*userp = user;
	return true;
}

/*
 * Keep alive: max_keepalive caps it. A 5.0 client is told the value
 * (Server Keep Alive, *server_ka); a 3.1/3.1.1 client asking for more
 * (or for none) is refused, as Mosquitto does. false: refused.
 */
static bool
handle_connect_keepalive(struct mqtt_conn *c, const struct mqtt_connect *p,
    uint16_t *server_ka)
{
	int	max = c->b->conf.max_keepalive;

	c->keepalive = p->keepalive;
	*server_ka = 0;
	if (max <= 0 || (p->keepalive != 0 && p->keepalive <= max))
		return true;
	if (p->level == MQTT_PROTO_5) {
		c->keepalive = (uint16_t)max;
		*server_ka = (uint16_t)max;
		return true;
	}
	handle_connect_refuse(c, MQTT_CONNACK_IDENTIFIER,
	    "keep alive over max_keepalive");
	return false;
}

void
handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s;
	struct mqtt_out		*o, *next, *last;
	char			*user = NULL;
	bool			 present = false, assigned;
	uint16_t		 server_ka;
	uint32_t		 expiry = 0;
	bool			 v5 = p->level == MQTT_PROTO_5;

	c->level = p->level;
	c->bridge = p->bridge;
	if (v5)
		handle_connect_props5(c, p);
	if (limits_mem_over(b)) {
		/* logged when the state changed, not per client */
		b->refused_memory++;
		if (v5)
			send_connack5(c, false, MQTT_RC_QUOTA_EXCEEDED, NULL,
			    0, 0, "server memory limit reached");
		else
			send_connack(c, false, MQTT_CONNACK_UNAVAILABLE);
		broker_conn_close(c, NULL, false);
		return;
	}
	if (!handle_connect_client_id(c, p, &assigned))
		return;
	if (v5 && mqtt_props_has(&p->props, MQTT_PROP_AUTH_METHOD)) {
		b->err_auth++;
		handle_connect_refuse(c, MQTT_RC_BAD_AUTH_METHOD,
		    "enhanced authentication is not supported");
		return;
	}
	if (v5 && p->will && p->will_retain && !b->conf.retain) {
		/* CONNACK said Retain Available 0 [MQTT-3.2.2-13] */
		handle_connect_refuse(c, MQTT_RC_RETAIN_NOT_SUPPORTED,
		    "a retained will, and retain = false");
		return;
	}
	if (!handle_connect_auth(c, p, &user))
		return;
	if (!handle_connect_keepalive(c, p, &server_ka)) {
		free(user);
		return;
	}
	if (v5) {
		/* the server may shorten it: [broker] session_expiry */
		expiry = c->session_expiry;
		if (b->conf.session_expiry > 0 && (expiry ==
		    SESSION_EXPIRY_NEVER || (int64_t)expiry * 1000 >
		    b->conf.session_expiry))
			expiry = (uint32_t)((b->conf.session_expiry + 999) /
			    1000);
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
		/* a delayed will is cancelled by the new connection, unless
		 * the session ends with it [MQTT-3.1.3-9] */
		if (old->will != NULL && old->will->delay > 0 && !p->clean &&
		    !s->clean) {
			will_free(old->will);
			old->will = NULL;
		}
		broker_conn_detach(old);
		broker_conn_disconnect(old, MQTT_RC_SESSION_TAKEN_OVER,
		    "session taken over", true);
	}
	/* a clean session lasts as long as its connection [MQTT-3.1.2-6];
	 * 5.0: Clean Start ends the old one, whose delayed will goes now */
	if (s != NULL && (p->clean || s->clean)) {
		if (persist_is_durable(s))
			mqtt_store_session_del(b->store, s->id);
		will_session_end(s);
		session_free(s);
		s = NULL;
	}
	if (s == NULL)
		s = session_create(b, c->client_id);
	else {
		present = true;
		will_cancel(s);
	}
	if (v5) {
		s->clean = expiry == 0;
		s->expiry_ms = expiry == SESSION_EXPIRY_NEVER ? -1 :
		    (int64_t)expiry * 1000;
	} else {
		s->clean = p->clean;
		s->expiry_ms = session_default_expiry(b);
	}
	free(s->username);
	s->username = user;
	s->conn = c;
	c->sess = s;
	if (persist_is_durable(s))
		persist_session(s, true);

	if (p->will) {
		c->will = will_create(c, p);
		if (!deliver_may_write(c, c->will->topic)) {
			will_free(c->will);
			c->will = NULL;
		}
	}
	broker_keepalive(c, false);
	c->state = CONN_ACTIVE;
	if (v5)
		send_connack5(c, present, MQTT_RC_SUCCESS, assigned ?
		    c->client_id : NULL, server_ka, expiry, NULL);
	else
		send_connack(c, present, MQTT_CONNACK_ACCEPTED);
	fh_log(LOG_DEBUG, "mqtt %s (%s): connected, %s, %s, keepalive %u%s",
	    c->client_id, c->addr, p->level == MQTT_PROTO_31 ? "3.1" :
	    v5 ? "5.0" : "3.1.1",
	    c->authenticated ? s->username : "anonymous", c->keepalive,
	    present ? ", session resumed" : "");
	/* 5.0 reports back what it uses: the session expiry */
	c->session_expiry = expiry;

	/* resume: in-flight messages again, with DUP, in order (one too
	 * large for the client now is done with; what the pump adds then
	 * is new: stop at the last one that was there) */
	last = TAILQ_LAST(&s->inflight, mqtt_outq);
	for (o = TAILQ_FIRST(&s->inflight); o != NULL; o = next) {
		next = o == last ? NULL : TAILQ_NEXT(o, entry);
		if (!session_out_send(s, o, true))
			session_inflight_done(s, o);
	}
	session_pump(s);
	/* its shared groups' messages that wait on offline members */
	if (present)
		shared_member_up(s);
}
