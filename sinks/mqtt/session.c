/*
 * Sessions: one per client id, outliving connections unless clean. The
 * table, the in-flight window and queue of QoS 1/2 messages, delivery to
 * one session, subscriptions, and the expiry of offline sessions.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

static uint32_t
session_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct mqtt_session *
session_find(struct mqtt_broker *b, const char *id)
{
	struct mqtt_session	*s;

	if (b->nbuckets == 0)
		return NULL;
	for (s = b->sessions[session_hash(id) % b->nbuckets]; s; s = s->hnext)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static void
session_rehash(struct mqtt_broker *b, size_t nbuckets)
{
	struct mqtt_session	**nb = fh_xcalloc(nbuckets, sizeof *nb);
	struct mqtt_session	 *s, *next;
	size_t			  i, h;

	for (i = 0; i < b->nbuckets; i++) {
		for (s = b->sessions[i]; s != NULL; s = next) {
			next = s->hnext;
			h = session_hash(s->id) % nbuckets;
			s->hnext = nb[h];
			nb[h] = s;
		}
	}
	free(b->sessions);
	b->sessions = nb;
	b->nbuckets = nbuckets;
}

/*
 * After a storm of connections (limits.c's trim, never while the table is
 * walked): give back the buckets that the sessions still there do not
 * need, half full at most, 64 at least.
 */
void
session_table_fit(struct mqtt_broker *b)
{
	size_t	nb = 64;

	while (nb < b->nsessions * 2)
		nb *= 2;
	if (nb < b->nbuckets)
		session_rehash(b, nb);
}

struct mqtt_session *
session_create(struct mqtt_broker *b, const char *id)
{
	struct mqtt_session	*s = fh_xcalloc(1, sizeof *s);
	size_t			 h;

	s->b = b;
	s->owner.ctx = s;
	s->id = fh_xstrdup(id);
	s->expiry_ms = session_default_expiry(b);
	TAILQ_INIT(&s->inflight);
	TAILQ_INIT(&s->queue);
	if (b->nsessions >= b->nbuckets)
		session_rehash(b, b->nbuckets ? b->nbuckets * 2 : 64);
	h = session_hash(id) % b->nbuckets;
	s->hnext = b->sessions[h];
	b->sessions[h] = s;
	b->nsessions++;
	return s;
}

static void
session_outq_clear(struct mqtt_outq *q)
{
	struct mqtt_out	*o;

	while ((o = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, o, entry);
		msg_unref(o->msg);
		free(o);
	}
}

void
session_free(struct mqtt_session *s)
{
	struct mqtt_broker	 *b = s->b;
	struct mqtt_session	**pp;
	size_t			  i;

	for (pp = &b->sessions[session_hash(s->id) % b->nbuckets]; *pp;
	    pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			b->nsessions--;
			break;
		}
	}
	for (i = 0; i < s->nsubs; i++) {
		subscribe_detach(s, &s->subs[i]);
		free(s->subs[i].filter);
	}
	free(s->subs);
	session_outq_clear(&s->inflight);
	session_outq_clear(&s->queue);
	limits_queue_account(s, 0, s->qbytes);
	if (s->full)
		b->sessions_full--;
	will_free(s->will);	/* a session that ends sends it first */
	free(s->in_qos2);
	free(s->username);
	free(s->id);
	free(s);
}

int64_t
session_default_expiry(const struct mqtt_broker *b)
{
	return b->conf.session_expiry > 0 ? b->conf.session_expiry : -1;
}

struct mqtt_out *
session_inflight_find(struct mqtt_session *s, uint16_t id)
{
	struct mqtt_out	*o;

	TAILQ_FOREACH(o, &s->inflight, entry)
		if (o->id == id)
			return o;
	return NULL;
}

static uint16_t
session_next_id(struct mqtt_session *s)
{
	do {
		if (++s->next_id == 0)
			s->next_id = 1;
	} while (session_inflight_find(s, s->next_id) != NULL);
	return s->next_id;
}

/* false: the PUBLISH is over the client's maximum packet size (5.0) */
bool
session_out_send(struct mqtt_session *s, struct mqtt_out *o, bool dup)
{
	if (o->state == OUT_WAIT_COMP) {
		send_ack(s->conn, MQTT_PUBREL, o->id);
		return true;
	}
	return send_publish(s->conn, o->msg, o->qos, o->retain, dup, o->id,
	    &o->d);
}

/* o is done with (acknowledged, or never to be sent): out of the window */
static void
session_inflight_remove(struct mqtt_session *s, struct mqtt_out *o)
{
	TAILQ_REMOVE(&s->inflight, o, entry);
	s->ninflight--;
	s->inflight_bytes -= o->msg->payload_len < s->inflight_bytes ?
	    o->msg->payload_len : s->inflight_bytes;
	limits_queue_account(s, 0, limits_msg_cost(o->msg));
	if (o->seq != 0)
		mqtt_store_msg_ack(s->b->store, o->seq);
	msg_unref(o->msg);
	free(o);
}

void
session_inflight_done(struct mqtt_session *s, struct mqtt_out *o)
{
	session_inflight_remove(s, o);
	session_pump(s);
}

/* Room in s's in-flight window: count (5.0: the client's Receive
 * Maximum too) and max_inflight_bytes (at least one always goes). */
static bool
session_window_has_room(const struct mqtt_session *s)
{
	size_t	max = s->b->conf.max_inflight_bytes;

	if (s->ninflight >= broker_conn_window(s->conn))
		return false;
	return max == 0 || s->ninflight == 0 || s->inflight_bytes < max;
}

/* Move queued messages into the in-flight window while there is room. */
void
session_pump(struct mqtt_session *s)
{
	struct mqtt_out	*o;

	while (broker_conn_is_active(s->conn) && session_window_has_room(s) &&
	    (o = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, o, entry);
		s->nqueued--;
		if (send_publish_is_expired(s->b, o->msg)) {
			/* never sent: its Message Expiry Interval passed
			 * while it waited (5.0 section 3.3.2.3.3) */
			s->b->drop_expired++;
			/* its packet id is used up all the same: ids follow
			 * the order messages were queued in, as Mosquitto's
			 * (given when queued) do */
			(void)session_next_id(s);
			limits_queue_account(s, 0, limits_msg_cost(o->msg));
			if (o->seq != 0)
				mqtt_store_msg_ack(s->b->store, o->seq);
			msg_unref(o->msg);
			free(o);
			continue;
		}
		o->id = session_next_id(s);
		o->state = OUT_WAIT_ACK;
		TAILQ_INSERT_TAIL(&s->inflight, o, entry);
		s->ninflight++;
		s->inflight_bytes += o->msg->payload_len;
		if (!session_out_send(s, o, false)) {
			/* too large for this client: as if it were sent and
			 * acknowledged [MQTT-3.1.2-25] */
			session_inflight_remove(s, o);
			continue;
		}
		if (o->seq != 0)
			mqtt_store_msg_update(s->b->store, o->seq, o->id,
			    MQTT_STORE_MSG_SENT, false);
	}
	limits_queue_check_room(s);
	if (broker_conn_is_active(s->conn))
		limits_conn_over_hard_cap(s->conn);
}

/*
 * Hand m to s at qos. force: a reply to SUBSCRIBE (retained messages),
 * which the QoS 0 soft cap does not drop.
 */
void
session_deliver(struct mqtt_session *s, struct mqtt_msg *m,
    uint8_t qos, bool retain, bool force, const struct mqtt_dopts *d)
{
	struct mqtt_broker	*b = s->b;
	struct mqtt_conn	*c = s->conn;
	struct mqtt_out		*o;

	if (send_publish_is_expired(b, m)) {
		b->drop_expired++;
		return;
	}
	if (qos == 0) {
		if (!broker_conn_is_active(c))
			return;
		if (!force && b->conf.max_output_buffer > 0 &&
		    broker_outlen(c) > b->conf.max_output_buffer) {
			b->drop_qos0_slow++;
			return;
		}
		/* over max_memory, a client with a backlog is slow */
		if (!force && c->outlen > BROKER_SLOW_BACKLOG &&
		    limits_mem_over(b)) {
			b->drop_qos0_memory++;
			return;
		}
		send_publish(c, m, 0, retain, false, 0, d);
		limits_conn_over_hard_cap(c);
		return;
	}
	/* never queued for a connected client it could not be sent to */
	if (broker_conn_is_active(c) && c->max_packet_out > 0 &&
	    !broker_conn_fits(c, send_publish_size(c, m, qos, retain, d)))
		return;
	if ((!broker_conn_is_active(c) || s->nqueued > 0 ||
	    !session_window_has_room(s)) && !limits_queue_admit(s, m))
		return;
	o = fh_xcalloc(1, sizeof *o);
	o->msg = msg_ref(m);
	o->qos = qos;
	o->retain = retain;
	if (d != NULL)
		o->d = *d;
	TAILQ_INSERT_TAIL(&s->queue, o, entry);
	s->nqueued++;
	limits_queue_account(s, limits_msg_cost(m), 0);
	session_pump(s);
	if (persist_is_durable(s)) {
		struct mqtt_store_msg	sm;

		persist_out(b, &sm, o);
		b->st_writes++;
		if (mqtt_store_msg_push(b->store, s->id, &sm) == 0)
			o->seq = sm.seq;
	}
}

/*
 * Room for one more element in an array of n whose capacity is not kept:
 * it is the next power of two at or above n (1, 2, 4, ...: most clients
 * have one subscription). It grows when n is 0 or a power of two; taking
 * elements out never leaves less than that.
 */
void *
session_array_room(void *p, size_t n, size_t size)
{
	if ((n & (n - 1)) != 0)
		return p;
	return fh_xrealloc(p, (n ? n * 2 : 1) * size);
}

/* Add or update one subscription of s (SUBSCRIBE, or restored). */
struct mqtt_sub *
session_sub(struct mqtt_session *s, const char *f, size_t flen,
    uint8_t qos)
{
	struct mqtt_sub	*sub;
	size_t		 j;

	for (j = 0; j < s->nsubs; j++)
		if (s->subs[j].len == flen &&
		    memcmp(s->subs[j].filter, f, flen) == 0)
			break;
	if (j == s->nsubs) {
		s->subs = session_array_room(s->subs, s->nsubs,
		    sizeof *s->subs);
		sub = &s->subs[s->nsubs++];
		memset(sub, 0, sizeof *sub);
		sub->filter = fh_xstrndup(f, flen);
		sub->len = flen;
	}
	s->subs[j].qos = qos;
	/* into the tree, or its shared group (again: the QoS changed) */
	subscribe_attach(s, &s->subs[j]);
	return &s->subs[j];
}

/* Offline persistent sessions not resumed within session_expiry go. */
void
session_expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_session	*s, *next;
	struct timeval		 now;
	long			 ms;
	size_t			 i;

	(void)fd;
	(void)what;
	event_base_gettimeofday_cached(b->base, &now);
	for (i = 0; i < b->nbuckets; i++) {
		for (s = b->sessions[i]; s != NULL; s = next) {
			next = s->hnext;
			if (s->conn != NULL || s->expiry_ms < 0)
				continue;
			ms = (now.tv_sec - s->offline_since.tv_sec) * 1000 +
			    (now.tv_usec - s->offline_since.tv_usec) / 1000;
			if (ms < s->expiry_ms)
				continue;
			fh_log(LOG_DEBUG, "mqtt %s: offline session expired",
			    s->id);
			b->sessions_expired++;
			if (persist_is_durable(s))
				mqtt_store_session_del(b->store, s->id);
			/* its delayed will goes now, its shared
			 * subscriptions' messages to other members
			 * (delivery frees no session: next stays valid) */
			will_session_end(s);
			shared_conn_lost(s);
			session_free(s);
		}
	}
	limits_mem_over(b);	/* expired sessions may have freed enough */
}
