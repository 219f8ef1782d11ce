/*
 * Durability (only with [gateway] state_dir; docs/durability.md): retained
 * messages, persistent sessions, their subscriptions, QoS 1/2 messages and
 * QoS 2 receive state are mirrored into the state store as they change,
 * and restored at start. QoS 0 and clean sessions never touch the store.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

/* Is s mirrored in the store? Only persistent sessions with state_dir. */
bool
persist_is_durable(const struct mqtt_session *s)
{
	return s->b->st != NULL && !s->clean;
}

void
persist_msg(struct mqtt_store_msg *sm, const struct mqtt_msg *m, uint8_t qos,
    bool retain)
{
	memset(sm, 0, sizeof *sm);
	sm->topic = (const char *)m->topic;
	sm->payload = m->payload;
	sm->payload_len = m->payload_len;
	sm->qos = qos;
	sm->retain = retain;
	/* MQTT 5: what the bus carries beside the payload */
	sm->props = fh_event_props(m->ev, &sm->props_len);
	sm->expiry = fh_event_expiry_us(m->ev);
	sm->pfi = fh_event_payload_format(m->ev);
}

void
persist_out(struct mqtt_broker *b, struct mqtt_store_msg *sm,
    const struct mqtt_out *o)
{
	size_t	i;

	persist_msg(sm, o->msg, o->qos, o->retain);
	/* a shared subscription's: stays the group's after a restart */
	sm->share = shared_group_key(b, o->d.group);
	/* stored as the pump left it: sent (id set) or queued */
	sm->mid = o->id;
	sm->state = o->id != 0 ? MQTT_STORE_MSG_SENT : MQTT_STORE_MSG_QUEUED;
	/* 5.0: the subscription ids that matched go out with this copy */
	for (i = 0; i < o->d.nsubids && i < MQTT_STORE_SUBIDS_MAX; i++)
		sm->subids[i] = o->d.subids[i];
	sm->nsubids = (uint8_t)i;
}

/* A session's expiry as the store keeps it: seconds, UINT32_MAX never. */
static uint32_t
persist_expiry(int64_t ms)
{
	return ms < 0 || ms / 1000 >= (int64_t)UINT32_MAX ? UINT32_MAX :
	    (uint32_t)(ms / 1000);
}

/* The session row: next packet id, expiry, online or since when not. */
void
persist_session(struct mqtt_session *s, bool online)
{
	struct mqtt_store_session	ss;

	memset(&ss, 0, sizeof ss);
	ss.client_id = s->id;
	ss.next_mid = s->next_id;
	ss.expiry = persist_expiry(s->expiry_ms);
	ss.disconnected = online ? 0 : s->offline_since.tv_sec > 0 ?
	    (int64_t)s->offline_since.tv_sec : (int64_t)time(NULL);
	ss.username = s->username;
	/* 5.0 sessions keep their own expiry across a restart, 3.1.1 ones
	 * take [broker] session_expiry as it is then */
	if (s->conn != NULL)
		s->level = (uint8_t)s->conn->level;
	ss.level = s->level;
	mqtt_store_session_put(s->b->store, &ss);
}

/* s's will waits delay seconds (will_lost): stored with when it is due,
 * so that a restart neither loses it nor restarts its delay. */
void
persist_will(struct mqtt_session *s, const struct mqtt_will *w,
    uint32_t delay)
{
	struct mqtt_store_will	sw;
	struct timeval		tv;

	gettimeofday(&tv, NULL);
	memset(&sw, 0, sizeof sw);
	sw.client_id = s->id;
	sw.topic = w->topic;
	sw.payload = w->payload;
	sw.payload_len = w->len;
	sw.props = w->props;
	sw.props_len = w->plen;
	sw.qos = w->qos;
	sw.retain = w->retain;
	sw.pfi = w->payload_format;
	sw.expiry = w->has_expiry ? (int64_t)w->expiry : -1;
	sw.due = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec +
	    (int64_t)delay * 1000000;
	mqtt_store_will_put(s->b->store, &sw);
}

/* s's will went, or was cancelled. */
void
persist_will_del(struct mqtt_session *s)
{
	mqtt_store_will_del(s->b->store, s->id);
}

/* A retained message changed (not $SYS: the broker remakes those). */
void
persist_retain(struct mqtt_broker *b, struct mqtt_msg *m)
{
	struct mqtt_store_msg	sm;

	if (b->st == NULL || (memcmp(m->topic, "$SYS", 4) == 0 &&
	    (m->topic[4] == '/' || m->topic[4] == '\0')))
		return;
	b->st_writes++;
	if (m->payload_len == 0) {
		mqtt_store_retain_del(b->store, (const char *)m->topic);
		return;
	}
	persist_msg(&sm, m, m->qos, true);
	mqtt_store_retain_put(b->store, &sm);
}

static struct mqtt_msg *
persist_msg_restore(const struct mqtt_store_msg *sm)
{
	struct fh_event	*ev;
	struct mqtt_msg	*m;
	uint8_t		*p = fh_xmalloc(sm->payload_len ? sm->payload_len : 1);

	if (sm->payload_len > 0)
		memcpy(p, sm->payload, sm->payload_len);
	ev = fh_event_new_raw(fh_xstrdup(sm->topic ? sm->topic : ""),
	    sm->topic ? strlen(sm->topic) : 0, p, sm->payload_len);
	fh_event_set_qos(ev, sm->qos > 2 ? 2 : sm->qos);
	fh_event_set_retain(ev, sm->retain);
	fh_event_set_origin(ev, "state");
	fh_event_set_props(ev, sm->props, sm->props_len);
	fh_event_set_expiry_us(ev, sm->expiry);
	fh_event_set_payload_format(ev, sm->pfi);
	m = msg_create(ev);
	fh_event_unref(ev);
	return m;
}

/*
 * One restore's scratch: a fan-out was one mqtt_msg shared by every
 * session before the restart, so the restore shares one per body row too
 * (else memory after a restart is sessions times the message); and the
 * expired rows, deleted once each read is over (a table is not changed
 * under its own running SELECT).
 */
struct persist_body {
	int64_t		 id;		/* 0: free slot */
	struct mqtt_msg	*m;
};

struct persist_ctx {
	struct mqtt_broker	*b;
	struct mqtt_session	*s;
	int64_t			 now_us;
	struct persist_body	*bodies;	/* open addressing */
	size_t			 nbodies, capbodies;
	int64_t			*expired_seq;
	size_t			 nexpired_seq, capexpired_seq;
	char			**expired_topic;
	size_t			 nexpired_topic, capexpired_topic;
	char			**expired_sess;
	size_t			 nexpired_sess, capexpired_sess;
	struct mqtt_will	**wills;	/* read, then handled */
	size_t			 nwills, capwills;
};

static size_t
persist_hash(int64_t id, size_t cap)
{
	return (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ULL >> 16) &
	    (cap - 1);
}

static struct mqtt_msg **
persist_body_slot(struct persist_ctx *x, int64_t id)
{
	size_t	i, old = x->capbodies;

	if (x->nbodies * 2 >= x->capbodies) {
		struct persist_body *prev = x->bodies;

		x->capbodies = old ? old * 2 : 1024;
		x->bodies = fh_xcalloc(x->capbodies, sizeof *x->bodies);
		for (i = 0; i < old; i++) {
			size_t j;

			if (prev[i].id == 0)
				continue;
			j = persist_hash(prev[i].id, x->capbodies);
			while (x->bodies[j].id != 0)
				j = (j + 1) & (x->capbodies - 1);
			x->bodies[j] = prev[i];
		}
		free(prev);
	}
	i = persist_hash(id, x->capbodies);
	while (x->bodies[i].id != 0 && x->bodies[i].id != id)
		i = (i + 1) & (x->capbodies - 1);
	if (x->bodies[i].id == 0) {
		x->bodies[i].id = id;
		x->nbodies++;
	}
	return &x->bodies[i].m;
}

/* Expired while stored (or while the daemon was down): never delivered. */
static bool
persist_expired(const struct mqtt_store_msg *sm, int64_t now_us)
{
	return sm->expiry != 0 && sm->expiry <= now_us;
}

static int
persist_restore_retain_cb(const struct mqtt_store_msg *sm, void *arg)
{
	struct persist_ctx	*x = arg;
	struct mqtt_broker	*b = x->b;
	struct mqtt_msg		*m;

	if (persist_expired(sm, x->now_us)) {
		if (x->nexpired_topic == x->capexpired_topic) {
			x->capexpired_topic = x->capexpired_topic ?
			    x->capexpired_topic * 2 : 16;
			x->expired_topic = fh_xrealloc(x->expired_topic,
			    x->capexpired_topic * sizeof *x->expired_topic);
		}
		x->expired_topic[x->nexpired_topic++] = fh_xstrdup(sm->topic);
		return 0;
	}
	m = persist_msg_restore(sm);
	topic_retain_set(b->topics, (const char *)m->topic, m->topic_len, m);
	b->restored_retained++;
	return 0;
}

static int
persist_restore_session_cb(const struct mqtt_store_session *ss, void *arg)
{
	struct persist_ctx	*x = arg;
	struct mqtt_broker	*b = x->b;
	struct mqtt_session	*s;
	int64_t			 expiry_ms;
	size_t			 i;

	if (session_find(b, ss->client_id) != NULL)
		return 0;
	/* gone offline before the daemon stopped and expired since: it
	 * ends now, as the expiry timer would have ended it */
	expiry_ms = ss->level == MQTT_PROTO_5 ? (ss->expiry == UINT32_MAX ?
	    -1 : (int64_t)ss->expiry * 1000) : session_default_expiry(b);
	if (ss->disconnected > 0 && expiry_ms >= 0 &&
	    x->now_us / 1000 - ss->disconnected * 1000 >= expiry_ms) {
		if (x->nexpired_sess == x->capexpired_sess) {
			x->capexpired_sess = x->capexpired_sess ?
			    x->capexpired_sess * 2 : 16;
			x->expired_sess = fh_xrealloc(x->expired_sess,
			    x->capexpired_sess * sizeof *x->expired_sess);
		}
		x->expired_sess[x->nexpired_sess++] =
		    fh_xstrdup(ss->client_id);
		return 0;
	}
	s = session_create(b, ss->client_id);
	s->clean = false;
	s->next_id = ss->next_mid;
	/* its owner's ACL applies to what it receives while offline, and
	 * only its owner may resume it */
	free(s->username);
	s->username = ss->username != NULL ? fh_xstrdup(ss->username) : NULL;
	/* a 3.1.1 session takes [broker] session_expiry as configured now,
	 * to the millisecond; a 5.0 one its own */
	s->level = ss->level;
	s->expiry_ms = expiry_ms;
	/* online when the daemon died: offline from now on; the expiry
	 * timer deletes those offline for too long */
	s->offline_since.tv_sec = ss->disconnected > 0 ?
	    (time_t)ss->disconnected : time(NULL);
	for (i = 0; i < ss->nsubs; i++) {
		struct mqtt_sub *sub = session_sub(s, ss->subs[i].filter,
		    strlen(ss->subs[i].filter), ss->subs[i].options & 0x03);

		/* 5.0 options: No Local, Retain As Published, its id */
		sub->no_local = (ss->subs[i].options & 0x04) != 0;
		sub->rap = (ss->subs[i].options & 0x08) != 0;
		sub->subid = ss->subs[i].id;
	}
	subscribe_count_options(s);
	b->restored_sessions++;
	return 0;
}

static int
persist_restore_msg_cb(const struct mqtt_store_msg *sm, void *arg)
{
	struct persist_ctx	*x = arg;
	struct mqtt_session	*s = x->s;
	struct mqtt_msg		**slot;
	struct mqtt_out		*o;
	size_t			 i;

	if (persist_expired(sm, x->now_us)) {
		if (x->nexpired_seq == x->capexpired_seq) {
			x->capexpired_seq = x->capexpired_seq ?
			    x->capexpired_seq * 2 : 64;
			x->expired_seq = fh_xrealloc(x->expired_seq,
			    x->capexpired_seq * sizeof *x->expired_seq);
		}
		x->expired_seq[x->nexpired_seq++] = sm->seq;
		return 0;
	}
	o = fh_xcalloc(1, sizeof *o);
	slot = sm->body > 0 ? persist_body_slot(x, sm->body) : NULL;
	if (slot != NULL && *slot != NULL)
		o->msg = msg_ref(*slot);
	else {
		o->msg = persist_msg_restore(sm);
		if (slot != NULL)
			*slot = msg_ref(o->msg);
	}
	o->qos = sm->qos < 1 ? 1 : sm->qos > 2 ? 2 : sm->qos;
	o->retain = sm->retain;
	o->seq = sm->seq;
	for (i = 0; i < sm->nsubids && i < BROKER_SUBIDS_MAX; i++)
		o->d.subids[i] = sm->subids[i];
	o->d.nsubids = (uint8_t)i;
	/* the group it was given for (its members are restored already);
	 * the first member to connect takes it (shared_member_up) */
	if (sm->share != NULL)
		o->d.group = shared_group_id(s->b, sm->share);
	limits_queue_account(s, limits_msg_cost(o->msg), 0);
	if (sm->state == MQTT_STORE_MSG_QUEUED || sm->mid == 0) {
		TAILQ_INSERT_TAIL(&s->queue, o, entry);
		s->nqueued++;
	} else {
		/* resent with DUP (or PUBREL again) when the client is back */
		o->id = sm->mid;
		o->state = sm->state == MQTT_STORE_MSG_RELEASED && o->qos == 2 ?
		    OUT_WAIT_COMP : OUT_WAIT_ACK;
		TAILQ_INSERT_TAIL(&s->inflight, o, entry);
		s->ninflight++;
		s->inflight_bytes += o->msg->payload_len;
	}
	s->b->restored_msgs++;
	return 0;
}

static int
persist_restore_qos2_cb(uint16_t mid, void *arg)
{
	struct mqtt_session	*s = arg;

	s->in_qos2 = session_array_room(s->in_qos2, s->nin_qos2,
	    sizeof *s->in_qos2);
	s->in_qos2[s->nin_qos2++] = mid;
	return 0;
}

static int
persist_restore_will_cb(const struct mqtt_store_will *sw, void *arg)
{
	struct persist_ctx	*x = arg;
	struct mqtt_will	*w = fh_xcalloc(1, sizeof *w);
	int64_t			 left = sw->due - x->now_us;

	w->client_id = fh_xstrdup(sw->client_id);
	w->topic = fh_xstrdup(sw->topic);
	w->len = sw->payload_len;
	w->payload = fh_xmalloc(w->len ? w->len : 1);
	if (w->len > 0)
		memcpy(w->payload, sw->payload, w->len);
	if (sw->props_len > 0) {
		w->props = fh_xmalloc(sw->props_len);
		memcpy(w->props, sw->props, sw->props_len);
		w->plen = sw->props_len;
	}
	w->qos = sw->qos > 2 ? 2 : sw->qos;
	w->retain = sw->retain;
	w->payload_format = sw->pfi;
	w->has_expiry = sw->expiry >= 0;
	w->expiry = sw->expiry >= 0 ? (uint32_t)sw->expiry : 0;
	/* what is left of its delay, rounded up; 0: due already */
	w->delay = left <= 0 ? 0 : (uint32_t)((left + 999999) / 1000000);
	if (x->nwills == x->capwills) {
		x->capwills = x->capwills ? x->capwills * 2 : 16;
		x->wills = fh_xrealloc(x->wills, x->capwills *
		    sizeof *x->wills);
	}
	x->wills[x->nwills++] = w;
	return 0;
}

/* The delayed wills: waiting again for what is left of their delay, or
 * published now when it ran out while the daemon was down or their
 * session did not survive the restore (a will goes when its session
 * ends). */
static void
persist_restore_wills(struct persist_ctx *x)
{
	struct mqtt_broker	*b = x->b;
	struct mqtt_session	*s;
	size_t			 i;

	if (mqtt_store_will_load_all(b->store, persist_restore_will_cb, x) !=
	    0)
		fh_log(LOG_ERR, "mqtt: could not read all delayed wills from "
		    "%s", fh_state_path(b->st));
	for (i = 0; i < x->nwills; i++) {
		struct mqtt_will *w = x->wills[i];

		s = session_find(b, w->client_id);
		if (s == NULL || w->delay == 0) {
			mqtt_store_will_del(b->store, w->client_id);
			s = NULL;
		}
		b->restored_wills++;
		will_lost(b, w, s);	/* NULL: at once */
	}
	free(x->wills);
}

/* Delete what expired (staged: it goes with the first commit) and free
 * the scratch. */
static void
persist_ctx_done(struct persist_ctx *x)
{
	struct mqtt_broker	*b = x->b;
	size_t			 i;

	for (i = 0; i < x->nexpired_topic; i++) {
		mqtt_store_retain_del(b->store, x->expired_topic[i]);
		free(x->expired_topic[i]);
	}
	for (i = 0; i < x->nexpired_seq; i++)
		mqtt_store_msg_ack(b->store, x->expired_seq[i]);
	for (i = 0; i < x->nexpired_sess; i++) {
		mqtt_store_session_del(b->store, x->expired_sess[i]);
		free(x->expired_sess[i]);
	}
	b->sessions_expired += x->nexpired_sess;
	b->restored_expired += x->nexpired_topic + x->nexpired_seq;
	for (i = 0; i < x->capbodies; i++)
		msg_unref(x->bodies[i].m);
	free(x->bodies);
	free(x->expired_topic);
	free(x->expired_seq);
	free(x->expired_sess);
}

/* Retained messages and persistent sessions, as the last run left them. */
void
persist_restore(struct mqtt_broker *b)
{
	struct persist_ctx	 x;
	struct mqtt_session	*s;
	struct timeval		 tv;
	size_t			 i;

	memset(&x, 0, sizeof x);
	x.b = b;
	gettimeofday(&tv, NULL);
	x.now_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	if (b->conf.retain && mqtt_store_retain_load_all(b->store,
	    persist_restore_retain_cb, &x) != 0)
		fh_log(LOG_ERR, "mqtt: could not read all retained messages "
		    "from %s", fh_state_path(b->st));
	if (mqtt_store_session_load_all(b->store, persist_restore_session_cb,
	    &x) != 0)
		fh_log(LOG_ERR, "mqtt: could not read all sessions from %s",
		    fh_state_path(b->st));
	for (i = 0; i < b->nbuckets; i++) {
		for (s = b->sessions[i]; s != NULL; s = s->hnext) {
			x.s = s;
			if (mqtt_store_msg_load(b->store, s->id,
			    persist_restore_msg_cb, &x) != 0 ||
			    mqtt_store_qos2_load(b->store, s->id,
			    persist_restore_qos2_cb, s) != 0)
				fh_log(LOG_ERR, "mqtt %s: could not read the "
				    "session's messages from %s", s->id,
				    fh_state_path(b->st));
		}
	}
	persist_restore_wills(&x);
	persist_ctx_done(&x);
	fh_log(LOG_INFO, "mqtt: restored %llu sessions, %llu messages, "
	    "%llu retained from %s", (unsigned long long)b->restored_sessions,
	    (unsigned long long)b->restored_msgs,
	    (unsigned long long)b->restored_retained, fh_state_path(b->st));
	if (b->restored_expired > 0)
		fh_log(LOG_INFO, "mqtt: dropped %llu stored messages that "
		    "expired", (unsigned long long)b->restored_expired);
	if (x.nexpired_sess > 0)
		fh_log(LOG_INFO, "mqtt: dropped %zu stored sessions that "
		    "expired", x.nexpired_sess);
}
