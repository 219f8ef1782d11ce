/*
 * The broker: connections (one per bufferevent), sessions (one per client
 * id, outliving connections unless clean), delivery.
 *
 * Fan-out: a bus event becomes one refcounted mqtt_msg. Each (QoS,
 * retain) variant of its PUBLISH is encoded once, lazily, and added to
 * every subscriber's output by reference (evbuffer_add_reference); QoS 1/2
 * add only their two-byte packet id by copy. Matching allocates nothing.
 *
 * Lifetime: a connection is never freed inside its own callback. Closing
 * marks it and activates a deferred event that publishes the will (on an
 * abnormal loss), detaches the session and frees it.
 *
 * Durability (only with [gateway] state_dir; docs/durability.md): retained
 * messages, persistent sessions, their subscriptions, QoS 1/2 messages and
 * QoS 2 receive state are mirrored into the state store as they change,
 * and restored at start. A publisher's PUBACK/PUBREC waits for the commit
 * of the batch that stored its message (one per loop turn). QoS 0 and
 * clean sessions never touch the store.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#ifdef __GLIBC__
#include <malloc.h>		/* malloc_trim */
#endif
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker.h"
#include "sinks/mqtt/listener.h"
#include "sinks/mqtt/packet.h"
#include "sinks/mqtt/topic.h"

/* One message as it is fanned out. */
struct mqtt_msg {
	unsigned	 refs;
	struct fh_event	*ev;
	const uint8_t	*topic;
	size_t		 topic_len;
	const uint8_t	*payload;
	size_t		 payload_len;
	uint8_t		 qos;
	/* QoS 0 whole packets, [retain] */
	uint8_t		*pkt0[2];
	size_t		 pkt0_len[2];
	/* QoS 1/2 fixed header + topic, the packet id follows, [qos-1][retain] */
	uint8_t		*head[2][2];
	size_t		 head_len[2][2];
};

enum out_state {
	OUT_WAIT_ACK,		/* PUBACK (QoS 1) or PUBREC (QoS 2) */
	OUT_WAIT_COMP,		/* PUBCOMP */
};

/* A QoS 1/2 message for one session: queued, or in flight. */
struct mqtt_out {
	TAILQ_ENTRY(mqtt_out)	 entry;
	struct mqtt_msg		*msg;
	uint16_t		 id;
	uint8_t			 qos;
	bool			 retain;
	enum out_state		 state;
	int64_t			 seq;		/* in the store; 0: not */
};
TAILQ_HEAD(mqtt_outq, mqtt_out);

struct mqtt_sub {
	char		*filter;
	size_t		 len;
	uint8_t		 qos;
};

struct mqtt_session {
	struct topic_owner	 owner;		/* ctx = this session */
	struct mqtt_broker	*b;
	struct mqtt_session	*hnext;		/* hash chain */
	char			*id;
	char			*username;	/* NULL: anonymous */
	bool			 clean;
	struct mqtt_conn	*conn;		/* NULL while offline */
	struct timeval		 offline_since;
	struct mqtt_sub		*subs;
	size_t			 nsubs, capsubs;
	struct mqtt_outq	 inflight;
	int			 ninflight;
	struct mqtt_outq	 queue;
	int			 nqueued;
	size_t			 qbytes;	/* queued + in flight */
	bool			 full;		/* refusing QoS 1/2 */
	uint64_t		 refused;	/* while full */
	uint16_t		 next_id;
	uint16_t		*in_qos2;	/* ids waiting for PUBREL */
	size_t			 nin_qos2, capin_qos2;
};

enum conn_state {
	CONN_NEW,		/* waiting for CONNECT */
	CONN_ACTIVE,
	CONN_CLOSING,
};

struct mqtt_lstat {
	char			*name;
	uint64_t		 total;
	uint64_t		 current;
	struct mqtt_lstat	*next;
};

struct mqtt_conn {
	struct mqtt_broker	*b;
	TAILQ_ENTRY(mqtt_conn)	 entry;
	struct bufferevent	*bev;
	struct event		*free_ev;
	struct mqtt_lstat	*lstat;
	char			*addr;
	char			*protocol;
	char			*cert_cn;
	enum conn_state		 state;
	bool			 abnormal;	/* send the will when freed */
	bool			 free_scheduled;
	int			 level;
	uint16_t		 keepalive;
	struct mqtt_session	*sess;
	struct evbuffer_cb_entry *out_cb;
	size_t			 outlen;	/* output, as counted */
	bool			 authenticated;
	/* PUBACK/PUBREC waiting for a commit, in order: type << 16 | id */
	uint32_t		*acks;
	size_t			 acks_head, nacks, capacks;
	char			*client_id;	/* for logs after detach */
	/* will */
	bool			 has_will;
	char			*will_topic;
	uint8_t			*will_payload;
	size_t			 will_len;
	uint8_t			 will_qos;
	bool			 will_retain;
};
TAILQ_HEAD(mqtt_connq, mqtt_conn);

struct mqtt_load {
	double		 m1, m5, m15;
	uint64_t	 last;
};

struct mqtt_broker {
	struct fh_gateway	*gw;
	struct event_base	*base;
	struct mqtt_broker_conf	 conf;
	struct fh_state		*st;		/* NULL: in memory only */
	uint64_t		 st_writes;	/* staged by a publish */
	uint64_t		 acks_deferred, acks_failed;
	uint64_t		 restored_sessions, restored_msgs,
				 restored_retained;
	struct topic_tree	*topics;
	struct mqtt_auth	*auth;
	struct mqtt_connq	 conns;
	size_t			 nconns;
	size_t			 maxconns;
	struct mqtt_session	**sessions;
	size_t			 nsessions, nbuckets;
	struct mqtt_lstat	*lstats;
	struct event		*sys_ev;
	struct event		*expiry_ev;
	uint64_t		 sessions_expired;
	uint64_t		 auto_id;
	double			 last_sys;
	/* counters */
	uint64_t		 msgs_in, msgs_out, bytes_in, bytes_out;
	uint64_t		 drop_qos0_slow, drop_queue_full;
	uint64_t		 drop_anonymous, drop_acl, drop_slow_disconnect;
	uint64_t		 err_malformed, err_too_large, err_protocol;
	uint64_t		 err_auth, refused_max_conns, keepalive_expired;
	uint64_t		 sys_msgs;
	/* limits: max_queued_bytes, max_memory */
	size_t			 mem_queued, mem_out;
	bool			 mem_over;
	size_t			 sessions_full;
	uint64_t		 drop_queue_bytes, drop_memory, drop_qos0_memory;
	uint64_t		 refused_memory;
	struct event		*trim_ev;
	size_t			 trim_peak;	/* connections since a trim */
	struct mqtt_load	 load_msgs_in, load_msgs_out, load_bytes_in,
				 load_bytes_out, load_conns;
	uint64_t		 conns_total;
};

/* Over max_memory, QoS 0 is dropped for a client with more than this
 * waiting to be written. */
#define BROKER_SLOW_BACKLOG	(64 * 1024)
/* Trim the heap after this many connections have come and half gone. */
#define BROKER_TRIM_PEAK	1000

static void	broker_conn_close(struct mqtt_conn *, const char *why,
		    bool abnormal);
static void	broker_session_pump(struct mqtt_session *);
static void	broker_event_cb(struct bufferevent *, short, void *);

/* ---- messages -------------------------------------------------------- */

static struct mqtt_msg *
broker_msg_create(struct fh_event *ev)
{
	struct mqtt_msg	*m = fh_xcalloc(1, sizeof *m);

	m->refs = 1;
	m->ev = fh_event_ref(ev);
	m->topic = (const uint8_t *)fh_event_topic(ev);
	m->topic_len = fh_event_topic_len(ev);
	m->payload = fh_event_payload(ev, &m->payload_len);
	m->qos = (uint8_t)fh_event_qos(ev);
	if (m->qos > 2)
		m->qos = 2;
	return m;
}

static struct mqtt_msg *
broker_msg_ref(struct mqtt_msg *m)
{
	m->refs++;
	return m;
}

static void
broker_msg_unref(struct mqtt_msg *m)
{
	int	i, j;

	if (m == NULL || --m->refs > 0)
		return;
	for (i = 0; i < 2; i++) {
		free(m->pkt0[i]);
		for (j = 0; j < 2; j++)
			free(m->head[i][j]);
	}
	fh_event_unref(m->ev);
	free(m);
}

static void
broker_msg_release_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	broker_msg_unref(arg);
}

static void
broker_retain_free_cb(void *msg)
{
	broker_msg_unref(msg);
}

static const uint8_t *
broker_msg_pkt0(struct mqtt_msg *m, bool retain, size_t *len)
{
	size_t	n;

	if (m->pkt0[retain] == NULL) {
		n = mqtt_encode_publish_head(NULL, 0, false, 0, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		m->pkt0[retain] = fh_xmalloc(n + m->payload_len);
		mqtt_encode_publish_head(m->pkt0[retain], n, false, 0, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		if (m->payload_len > 0)
			memcpy(m->pkt0[retain] + n, m->payload,
			    m->payload_len);
		m->pkt0_len[retain] = n + m->payload_len;
	}
	*len = m->pkt0_len[retain];
	return m->pkt0[retain];
}

/* Fixed header + topic for QoS 1/2, without the packet id. */
static const uint8_t *
broker_msg_head(struct mqtt_msg *m, uint8_t qos, bool retain, size_t *len)
{
	uint8_t	**h = &m->head[qos - 1][retain];
	size_t	  n;

	if (*h == NULL) {
		n = mqtt_encode_publish_head(NULL, 0, false, qos, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		*h = fh_xmalloc(n);
		mqtt_encode_publish_head(*h, n, false, qos, retain, m->topic,
		    m->topic_len, 0, m->payload_len);
		m->head_len[qos - 1][retain] = n - 2;
	}
	*len = m->head_len[qos - 1][retain];
	return *h;
}

/* ---- output ---------------------------------------------------------- */

static bool
broker_conn_is_active(const struct mqtt_conn *c)
{
	return c != NULL && c->state == CONN_ACTIVE;
}

static void
broker_write(struct mqtt_conn *c, const void *p, size_t len)
{
	evbuffer_add(bufferevent_get_output(c->bev), p, len);
	c->b->bytes_out += len;
}

static void
broker_write_ref(struct mqtt_conn *c, struct evbuffer *out, const void *p,
    size_t len, struct mqtt_msg *m)
{
	if (len == 0)
		return;
	if (evbuffer_add_reference(out, p, len, broker_msg_release_cb,
	    broker_msg_ref(m)) != 0) {
		broker_msg_unref(m);
		return;
	}
	c->b->bytes_out += len;
}

static void
broker_send_ack(struct mqtt_conn *c, uint8_t type, uint16_t id)
{
	uint8_t	buf[4];

	broker_write(c, buf, mqtt_encode_ack(buf, sizeof buf, type, id));
}

static void
broker_send_publish(struct mqtt_conn *c, struct mqtt_msg *m, uint8_t qos,
    bool retain, bool dup, uint16_t id)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const uint8_t	*p;
	uint8_t		 idb[2], first;
	size_t		 len;

	if (qos == 0) {
		p = broker_msg_pkt0(m, retain, &len);
		broker_write_ref(c, out, p, len, m);
	} else {
		p = broker_msg_head(m, qos, retain, &len);
		if (dup) {
			first = p[0] | 0x08;
			broker_write(c, &first, 1);
			broker_write_ref(c, out, p + 1, len - 1, m);
		} else
			broker_write_ref(c, out, p, len, m);
		idb[0] = (uint8_t)(id >> 8);
		idb[1] = (uint8_t)id;
		broker_write(c, idb, 2);
		broker_write_ref(c, out, m->payload, m->payload_len, m);
	}
	c->b->msgs_out++;
}

static bool
broker_conn_over_hard_cap(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;

	if (b->conf.max_output_buffer_hard == 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    b->conf.max_output_buffer_hard)
		return false;
	b->drop_slow_disconnect++;
	evbuffer_drain(bufferevent_get_output(c->bev),
	    evbuffer_get_length(bufferevent_get_output(c->bev)));
	broker_conn_close(c, "output buffer over max_output_buffer_hard "
	    "(slow consumer)", true);
	return true;
}

/* ---- limits ---------------------------------------------------------- */

/*
 * What a queued or in-flight message costs its session: topic, payload and
 * the bookkeeping. A message shared by several sessions counts for each.
 */
static size_t
broker_msg_cost(const struct mqtt_msg *m)
{
	return m->topic_len + m->payload_len + sizeof(struct mqtt_out);
}

static size_t
broker_mem_used(const struct mqtt_broker *b)
{
	return b->mem_queued + b->mem_out;
}

/*
 * Over max_memory? One log line when the state changes: on above the
 * ceiling, off below 90 % of it.
 */
static bool
broker_mem_over(struct mqtt_broker *b)
{
	size_t	used = broker_mem_used(b), max = b->conf.max_memory;

	if (max == 0)
		return false;
	if (!b->mem_over && used > max) {
		b->mem_over = true;
		fh_log(LOG_WARNING, "mqtt: memory over max_memory (%zu > %zu "
		    "bytes): refusing new QoS 1/2 queueing, QoS 0 to slow "
		    "clients and new connections", used, max);
	} else if (b->mem_over && used < max / 10 * 9) {
		b->mem_over = false;
		fh_log(LOG_INFO, "mqtt: memory back under max_memory (%zu "
		    "bytes)", used);
	}
	return b->mem_over;
}

/* Count what a connection's output buffer holds, as it changes. */
static void
broker_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct mqtt_conn	*c = arg;
	struct mqtt_broker	*b = c->b;
	size_t			 del = info->n_deleted;

	(void)buf;
	c->outlen += info->n_added;
	b->mem_out += info->n_added;
	if (del > c->outlen)
		del = c->outlen;
	c->outlen -= del;
	b->mem_out -= del;
}

static void
broker_queue_account(struct mqtt_session *s, size_t add, size_t del)
{
	struct mqtt_broker	*b = s->b;

	s->qbytes += add;
	b->mem_queued += add;
	if (del > s->qbytes)
		del = s->qbytes;
	s->qbytes -= del;
	b->mem_queued -= del;
}

/* A full session has room again below half of both limits. */
static void
broker_queue_check_room(struct mqtt_session *s)
{
	struct mqtt_broker	*b = s->b;

	if (!s->full ||
	    s->nqueued > b->conf.max_queued_messages / 2 ||
	    (b->conf.max_queued_bytes > 0 &&
	    s->qbytes > b->conf.max_queued_bytes / 2) || b->mem_over)
		return;
	s->full = false;
	b->sessions_full--;
	fh_log(LOG_INFO, "mqtt %s: queue has room again (%llu QoS 1/2 "
	    "messages were refused)", s->id, (unsigned long long)s->refused);
	s->refused = 0;
}

/*
 * May m (QoS 1/2) wait in s's queue? Over max_queued_messages,
 * max_queued_bytes or max_memory it is refused for this session only:
 * counted, one warning when the session becomes full.
 */
static bool
broker_queue_admit(struct mqtt_session *s, const struct mqtt_msg *m)
{
	struct mqtt_broker	*b = s->b;
	const char		*why;

	if (s->nqueued >= b->conf.max_queued_messages) {
		b->drop_queue_full++;
		why = "max_queued_messages";
	} else if (b->conf.max_queued_bytes > 0 &&
	    s->qbytes + broker_msg_cost(m) > b->conf.max_queued_bytes) {
		b->drop_queue_bytes++;
		why = "max_queued_bytes";
	} else if (broker_mem_over(b)) {
		b->drop_memory++;
		why = "max_memory";
	} else {
		broker_queue_check_room(s);
		return true;
	}
	s->refused++;
	if (!s->full) {
		s->full = true;
		b->sessions_full++;
		fh_log(LOG_WARNING, "mqtt %s: queue full (%s; %d messages, "
		    "%zu bytes): refusing new QoS 1/2 messages for it", s->id,
		    why, s->nqueued, s->qbytes);
	}
	return false;
}

static void
broker_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;

	(void)fd;
	(void)what;
	b->trim_peak = b->nconns;
#ifdef __GLIBC__
	malloc_trim(0);
#if __GLIBC_PREREQ(2, 33)
	struct mallinfo2 mi = mallinfo2();

	fh_log(LOG_DEBUG, "mqtt: heap trimmed (%zu connections): %zu bytes "
	    "in use, %zu free", b->nconns, mi.uordblks, mi.fordblks);
	return;
#endif
#endif
	fh_log(LOG_DEBUG, "mqtt: heap trimmed (%zu connections)", b->nconns);
}

/*
 * After a storm of connections has gone, give the freed heap back to the
 * system: once, a second after the count fell to half of its peak.
 */
static void
broker_trim_check(struct mqtt_broker *b)
{
	struct timeval	tv = { 1, 0 };

	if (b->nconns > b->trim_peak)
		b->trim_peak = b->nconns;
	if (b->base == NULL || b->trim_peak < BROKER_TRIM_PEAK ||
	    b->nconns > b->trim_peak / 2)
		return;
	if (b->trim_ev == NULL)
		b->trim_ev = evtimer_new(b->base, broker_trim_cb, b);
	if (!evtimer_pending(b->trim_ev, NULL))
		evtimer_add(b->trim_ev, &tv);
}

/* ---- the state store ------------------------------------------------- */

/* Is s mirrored in the store? Only persistent sessions with state_dir. */
static bool
broker_durable(const struct mqtt_session *s)
{
	return s->b->st != NULL && !s->clean;
}

static void
broker_st_msg(struct fh_state_msg *sm, const struct mqtt_msg *m, uint8_t qos,
    bool retain)
{
	memset(sm, 0, sizeof *sm);
	sm->topic = (const char *)m->topic;
	sm->payload = m->payload;
	sm->payload_len = m->payload_len;
	sm->qos = qos;
	sm->retain = retain;
}

/* The session row: next packet id, expiry, online or since when not. */
static void
broker_st_session(struct mqtt_session *s, bool online)
{
	struct fh_state_session	ss;
	long			sec = s->b->conf.session_expiry / 1000;

	memset(&ss, 0, sizeof ss);
	ss.client_id = s->id;
	ss.next_mid = s->next_id;
	ss.expiry = s->b->conf.session_expiry <= 0 || sec >= (long)UINT32_MAX ?
	    UINT32_MAX : (uint32_t)sec;
	ss.disconnected = online ? 0 : s->offline_since.tv_sec > 0 ?
	    (int64_t)s->offline_since.tv_sec : (int64_t)time(NULL);
	fh_state_session_put(s->b->st, &ss);
}

/* A retained message changed (not $SYS: the broker remakes those). */
static void
broker_st_retain(struct mqtt_broker *b, struct mqtt_msg *m)
{
	struct fh_state_msg	sm;

	if (b->st == NULL || (memcmp(m->topic, "$SYS", 4) == 0 &&
	    (m->topic[4] == '/' || m->topic[4] == '\0')))
		return;
	b->st_writes++;
	if (m->payload_len == 0) {
		fh_state_retain_del(b->st, (const char *)m->topic);
		return;
	}
	broker_st_msg(&sm, m, m->qos, true);
	fh_state_retain_put(b->st, &sm);
}

/* ---- sessions -------------------------------------------------------- */

static uint32_t
broker_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static struct mqtt_session *
broker_session_find(struct mqtt_broker *b, const char *id)
{
	struct mqtt_session	*s;

	if (b->nbuckets == 0)
		return NULL;
	for (s = b->sessions[broker_hash(id) % b->nbuckets]; s; s = s->hnext)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static void
broker_session_rehash(struct mqtt_broker *b, size_t nbuckets)
{
	struct mqtt_session	**nb = fh_xcalloc(nbuckets, sizeof *nb);
	struct mqtt_session	 *s, *next;
	size_t			  i, h;

	for (i = 0; i < b->nbuckets; i++) {
		for (s = b->sessions[i]; s != NULL; s = next) {
			next = s->hnext;
			h = broker_hash(s->id) % nbuckets;
			s->hnext = nb[h];
			nb[h] = s;
		}
	}
	free(b->sessions);
	b->sessions = nb;
	b->nbuckets = nbuckets;
}

static struct mqtt_session *
broker_session_create(struct mqtt_broker *b, const char *id)
{
	struct mqtt_session	*s = fh_xcalloc(1, sizeof *s);
	size_t			 h;

	s->b = b;
	s->owner.ctx = s;
	s->id = fh_xstrdup(id);
	TAILQ_INIT(&s->inflight);
	TAILQ_INIT(&s->queue);
	if (b->nsessions >= b->nbuckets)
		broker_session_rehash(b, b->nbuckets ? b->nbuckets * 2 : 64);
	h = broker_hash(id) % b->nbuckets;
	s->hnext = b->sessions[h];
	b->sessions[h] = s;
	b->nsessions++;
	return s;
}

static void
broker_outq_clear(struct mqtt_outq *q)
{
	struct mqtt_out	*o;

	while ((o = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, o, entry);
		broker_msg_unref(o->msg);
		free(o);
	}
}

static void
broker_session_free(struct mqtt_session *s)
{
	struct mqtt_broker	 *b = s->b;
	struct mqtt_session	**pp;
	size_t			  i;

	for (pp = &b->sessions[broker_hash(s->id) % b->nbuckets]; *pp;
	    pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			b->nsessions--;
			break;
		}
	}
	for (i = 0; i < s->nsubs; i++) {
		topic_unsubscribe(b->topics, s->subs[i].filter, s->subs[i].len,
		    &s->owner);
		free(s->subs[i].filter);
	}
	free(s->subs);
	broker_outq_clear(&s->inflight);
	broker_outq_clear(&s->queue);
	broker_queue_account(s, 0, s->qbytes);
	if (s->full)
		b->sessions_full--;
	free(s->in_qos2);
	free(s->username);
	free(s->id);
	free(s);
}

static struct mqtt_out *
broker_inflight_find(struct mqtt_session *s, uint16_t id)
{
	struct mqtt_out	*o;

	TAILQ_FOREACH(o, &s->inflight, entry)
		if (o->id == id)
			return o;
	return NULL;
}

static uint16_t
broker_next_id(struct mqtt_session *s)
{
	do {
		if (++s->next_id == 0)
			s->next_id = 1;
	} while (broker_inflight_find(s, s->next_id) != NULL);
	return s->next_id;
}

static void
broker_out_send(struct mqtt_session *s, struct mqtt_out *o, bool dup)
{
	if (o->state == OUT_WAIT_COMP)
		broker_send_ack(s->conn, MQTT_PUBREL, o->id);
	else
		broker_send_publish(s->conn, o->msg, o->qos, o->retain, dup,
		    o->id);
}

/* Move queued messages into the in-flight window while there is room. */
static void
broker_session_pump(struct mqtt_session *s)
{
	struct mqtt_out	*o;

	while (broker_conn_is_active(s->conn) &&
	    s->ninflight < s->b->conf.max_inflight_messages &&
	    (o = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, o, entry);
		s->nqueued--;
		o->id = broker_next_id(s);
		o->state = OUT_WAIT_ACK;
		TAILQ_INSERT_TAIL(&s->inflight, o, entry);
		s->ninflight++;
		broker_out_send(s, o, false);
		if (o->seq != 0)
			fh_state_msg_update(s->b->st, o->seq, o->id,
			    FH_STATE_MSG_SENT, false);
	}
	broker_queue_check_room(s);
	if (broker_conn_is_active(s->conn))
		broker_conn_over_hard_cap(s->conn);
}

static bool
broker_may_read(struct mqtt_broker *b, struct mqtt_session *s,
    const struct mqtt_msg *m)
{
	if (b->auth == NULL || !mqtt_auth_has_acl(b->auth))
		return true;
	/* $SYS and source events obey the ACL like everything else */
	return mqtt_auth_acl_check(b->auth, s->username, s->id,
	    (const char *)m->topic, MQTT_ACL_READ);
}

/*
 * Hand m to s at qos. force: a reply to SUBSCRIBE (retained messages),
 * which the QoS 0 soft cap does not drop.
 */
static void
broker_session_deliver(struct mqtt_session *s, struct mqtt_msg *m,
    uint8_t qos, bool retain, bool force)
{
	struct mqtt_broker	*b = s->b;
	struct mqtt_conn	*c = s->conn;
	struct mqtt_out		*o;

	if (qos == 0) {
		if (!broker_conn_is_active(c))
			return;
		if (!force && b->conf.max_output_buffer > 0 &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    b->conf.max_output_buffer) {
			b->drop_qos0_slow++;
			return;
		}
		/* over max_memory, a client with a backlog is slow */
		if (!force && c->outlen > BROKER_SLOW_BACKLOG &&
		    broker_mem_over(b)) {
			b->drop_qos0_memory++;
			return;
		}
		broker_send_publish(c, m, 0, retain, false, 0);
		broker_conn_over_hard_cap(c);
		return;
	}
	if ((!broker_conn_is_active(c) || s->nqueued > 0 ||
	    s->ninflight >= b->conf.max_inflight_messages) &&
	    !broker_queue_admit(s, m))
		return;
	o = fh_xcalloc(1, sizeof *o);
	o->msg = broker_msg_ref(m);
	o->qos = qos;
	o->retain = retain;
	TAILQ_INSERT_TAIL(&s->queue, o, entry);
	s->nqueued++;
	broker_queue_account(s, broker_msg_cost(m), 0);
	broker_session_pump(s);
	if (broker_durable(s)) {
		struct fh_state_msg	sm;

		/* stored as the pump left it: sent (id set) or queued */
		broker_st_msg(&sm, m, qos, retain);
		sm.mid = o->id;
		sm.state = o->id != 0 ? FH_STATE_MSG_SENT : FH_STATE_MSG_QUEUED;
		b->st_writes++;
		if (fh_state_msg_push(b->st, s->id, &sm) == 0)
			o->seq = sm.seq;
	}
}

/* ---- publishing ------------------------------------------------------ */

struct broker_retained_arg {
	struct mqtt_session	*s;
	uint8_t			 qos;
};

static void
broker_retained_cb(void *msg, void *arg)
{
	struct broker_retained_arg	*a = arg;
	struct mqtt_msg			*m = msg;

	if (!broker_may_read(a->s->b, a->s, m))
		return;
	broker_session_deliver(a->s, m, m->qos < a->qos ? m->qos : a->qos,
	    true, true);
}

static void
broker_deliver(struct mqtt_broker *b, struct mqtt_msg *m)
{
	struct topic_owner	**vec;
	struct mqtt_session	 *s;
	size_t			  n, i;
	uint8_t			  qos;

	n = topic_match(b->topics, (const char *)m->topic, m->topic_len, &vec);
	for (i = 0; i < n; i++) {
		s = vec[i]->ctx;
		if (!broker_may_read(b, s, m))
			continue;
		qos = vec[i]->qos < m->qos ? vec[i]->qos : m->qos;
		broker_session_deliver(s, m, qos, false, false);
	}
}

int
mqtt_broker_publish(struct mqtt_broker *b, struct fh_event *ev)
{
	struct mqtt_msg	*m = broker_msg_create(ev);

	if (fh_event_retain(ev) && b->conf.retain) {
		broker_st_retain(b, m);
		if (m->payload_len == 0)
			topic_retain_set(b->topics, (const char *)m->topic,
			    m->topic_len, NULL);
		else
			topic_retain_set(b->topics, (const char *)m->topic,
			    m->topic_len, broker_msg_ref(m));
	}
	broker_deliver(b, m);
	broker_msg_unref(m);
	return 0;
}

/* May this connection's PUBLISH reach others? Counts and logs refusals. */
static bool
broker_may_write(struct mqtt_conn *c, const char *topic)
{
	struct mqtt_broker	*b = c->b;

	if (strncmp(topic, "$SYS", 4) == 0 && (topic[4] == '/' ||
	    topic[4] == '\0')) {
		/* the broker's own: no client writes there */
		b->drop_acl++;
		fh_log(LOG_DEBUG, "mqtt %s (%s): PUBLISH to '%s' refused",
		    c->client_id, c->addr, topic);
		return false;
	}
	if (!c->authenticated && !b->conf.anonymous_publish) {
		b->drop_anonymous++;
		fh_log(LOG_DEBUG, "mqtt %s (%s): anonymous PUBLISH to '%s' "
		    "dropped", c->client_id, c->addr, topic);
		return false;
	}
	if (b->auth != NULL && mqtt_auth_has_acl(b->auth) &&
	    !mqtt_auth_acl_check(b->auth, c->authenticated ?
	    c->sess->username : NULL, c->client_id, topic, MQTT_ACL_WRITE)) {
		b->drop_acl++;
		fh_log(LOG_DEBUG, "mqtt %s (%s): PUBLISH to '%s' denied by ACL",
		    c->client_id, c->addr, topic);
		return false;
	}
	return true;
}

/* A client's message goes to the bus, like any source's. */
static void
broker_emit(struct mqtt_broker *b, const char *client_id, const uint8_t *topic,
    size_t topic_len, const uint8_t *payload, size_t len, uint8_t qos,
    bool retain)
{
	struct fh_event	*ev;
	char		*t = fh_xmalloc(topic_len + 1);
	uint8_t		*p = fh_xmalloc(len ? len : 1);
	char		 origin[128];

	memcpy(t, topic, topic_len);
	t[topic_len] = '\0';
	if (len > 0)
		memcpy(p, payload, len);
	ev = fh_event_new_raw(t, topic_len, p, len);
	fh_event_set_qos(ev, qos);
	fh_event_set_retain(ev, retain);
	snprintf(origin, sizeof origin, "mqtt:%s", client_id);
	fh_event_set_origin(ev, origin);
	if (b->gw != NULL)
		fh_gateway_emit(b->gw, ev);
	else
		mqtt_broker_publish(b, ev);
	fh_event_unref(ev);
}

/* ---- connections ----------------------------------------------------- */

static void
broker_conn_free(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s = c->sess;

	if (b->st != NULL)
		fh_state_cancel(b->st, c);
	free(c->acks);
	if (s != NULL) {
		s->conn = NULL;
		c->sess = NULL;
		if (s->clean)
			broker_session_free(s);
		else {
			if (b->base != NULL)
				event_base_gettimeofday_cached(b->base,
				    &s->offline_since);
			if (broker_durable(s))
				broker_st_session(s, false);
		}
	}
	TAILQ_REMOVE(&b->conns, c, entry);
	b->nconns--;
	if (c->lstat != NULL)
		c->lstat->current--;
	if (c->out_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
		    c->out_cb);
	b->mem_out -= c->outlen < b->mem_out ? c->outlen : b->mem_out;
	bufferevent_free(c->bev);
	broker_trim_check(b);
	if (c->free_ev != NULL)
		event_free(c->free_ev);
	free(c->will_topic);
	free(c->will_payload);
	free(c->client_id);
	free(c->addr);
	free(c->protocol);
	free(c->cert_cn);
	free(c);
}

static void
broker_conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_conn	*c = arg;
	struct mqtt_broker	*b = c->b;

	(void)fd;
	(void)what;
	if (c->abnormal && c->has_will && b->gw != NULL) {
		fh_log(LOG_DEBUG, "mqtt %s: publishing will to '%s'",
		    c->client_id, c->will_topic);
		broker_emit(b, c->client_id, (uint8_t *)c->will_topic,
		    strlen(c->will_topic), c->will_payload, c->will_len,
		    c->will_qos, c->will_retain && b->conf.retain);
	}
	broker_conn_free(c);
}

static void
broker_conn_schedule_free(struct mqtt_conn *c)
{
	if (c->free_scheduled)
		return;
	c->free_scheduled = true;
	/* made only now: an idle connection does not carry it */
	c->free_ev = event_new(c->b->base, -1, 0, broker_conn_free_cb, c);
	event_active(c->free_ev, EV_TIMEOUT, 0);
}

static void
broker_flush_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	broker_conn_schedule_free(arg);
}

/* Detach a session from its connection at once (takeover). */
static void
broker_conn_detach(struct mqtt_conn *c)
{
	if (c->sess != NULL) {
		c->sess->conn = NULL;
		c->sess = NULL;
	}
}

/*
 * Close c: mark it, stop reading, and free it from a deferred event. With
 * abnormal the will is published. Output already queued (a CONNACK with
 * an error, say) is flushed first, for at most a few seconds.
 */
static void
broker_conn_close(struct mqtt_conn *c, const char *why, bool abnormal)
{
	struct timeval	tv = { 5, 0 };

	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	c->abnormal = abnormal && c->has_will;
	if (why != NULL)
		fh_log(abnormal ? LOG_INFO : LOG_DEBUG, "mqtt %s (%s): %s",
		    c->client_id ? c->client_id : "-", c->addr, why);
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		broker_conn_schedule_free(c);
		return;
	}
	bufferevent_setcb(c->bev, NULL, broker_flush_cb, broker_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* A protocol error: count it, one log line, close (will is sent). */
static void
broker_conn_error(struct mqtt_conn *c, int err, const char *what)
{
	struct mqtt_broker	*b = c->b;
	char			 why[160];

	if (err == MQTT_E_TOO_LARGE)
		b->err_too_large++;
	else if (err == MQTT_E_PROTOCOL)
		b->err_protocol++;
	else
		b->err_malformed++;
	snprintf(why, sizeof why, "%s: %s, closing", what, mqtt_strerror(err));
	fh_log(LOG_WARNING, "mqtt %s (%s): %s",
	    c->client_id ? c->client_id : "-", c->addr, why);
	/* drop what we had queued: the peer is not worth flushing to */
	evbuffer_drain(bufferevent_get_output(c->bev),
	    evbuffer_get_length(bufferevent_get_output(c->bev)));
	broker_conn_close(c, NULL, true);
}

static void
broker_send_connack(struct mqtt_conn *c, bool sp, uint8_t rc)
{
	uint8_t	buf[4];

	broker_write(c, buf, mqtt_encode_connack(buf, sizeof buf,
	    c->level == MQTT_PROTO_311 ? sp : false, rc));
}

static void
broker_refuse(struct mqtt_conn *c, uint8_t rc, const char *why)
{
	broker_send_connack(c, false, rc);
	fh_log(LOG_INFO, "mqtt %s (%s): CONNECT refused (%u): %s",
	    c->client_id ? c->client_id : "-", c->addr, rc, why);
	broker_conn_close(c, NULL, false);
}

static void
broker_handle_connect(struct mqtt_conn *c, const struct mqtt_connect *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s;
	struct mqtt_out		*o;
	struct timeval		 tv;
	char			*user = NULL;
	bool			 present = false;

	c->level = p->level;
	if (broker_mem_over(b)) {
		/* logged when the state changed, not per client */
		b->refused_memory++;
		broker_send_connack(c, false, MQTT_CONNACK_UNAVAILABLE);
		broker_conn_close(c, NULL, false);
		return;
	}
	if (p->client_id.len == 0) {
		if (p->level == MQTT_PROTO_31 || !p->clean) {
			broker_refuse(c, MQTT_CONNACK_IDENTIFIER,
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
		broker_refuse(c, MQTT_CONNACK_IDENTIFIER,
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
			broker_refuse(c, MQTT_CONNACK_CREDENTIALS,
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
		broker_refuse(c, MQTT_CONNACK_NOT_AUTHORIZED,
		    "anonymous clients not allowed");
		return;
	}

	s = broker_session_find(b, c->client_id);
	if (s != NULL && s->conn != NULL) {
		struct mqtt_conn *old = s->conn;

		fh_log(LOG_INFO, "mqtt %s: taken over by %s (was %s)",
		    c->client_id, c->addr, old->addr);
		broker_conn_detach(old);
		broker_conn_close(old, NULL, true);
	}
	/* a clean session lasts as long as its connection [MQTT-3.1.2-6] */
	if (s != NULL && (p->clean || s->clean)) {
		if (broker_durable(s))
			fh_state_session_del(b->st, s->id);
		broker_session_free(s);
		s = NULL;
	}
	if (s == NULL)
		s = broker_session_create(b, c->client_id);
	else
		present = true;
	s->clean = p->clean;
	free(s->username);
	s->username = user;
	s->conn = c;
	c->sess = s;
	if (broker_durable(s))
		broker_st_session(s, true);

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
		if (!broker_may_write(c, c->will_topic))
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
	broker_send_connack(c, present, MQTT_CONNACK_ACCEPTED);
	fh_log(LOG_DEBUG, "mqtt %s (%s): connected, %s, %s, keepalive %u%s",
	    c->client_id, c->addr, p->level == MQTT_PROTO_31 ? "3.1" : "3.1.1",
	    c->authenticated ? s->username : "anonymous", c->keepalive,
	    present ? ", session resumed" : "");

	/* resume: in-flight messages again, with DUP, in order */
	TAILQ_FOREACH(o, &s->inflight, entry)
		broker_out_send(s, o, true);
	broker_session_pump(s);
}

static bool
broker_in_qos2_has(struct mqtt_session *s, uint16_t id)
{
	size_t	i;

	for (i = 0; i < s->nin_qos2; i++)
		if (s->in_qos2[i] == id)
			return true;
	return false;
}

/* The batch holding a publisher's messages is committed (or failed). */
static void
broker_ack_cb(int rc, void *arg)
{
	struct mqtt_conn	*c = arg;
	uint32_t		 a;

	if (c->nacks == 0)
		return;
	a = c->acks[c->acks_head++];
	if (--c->nacks == 0)
		c->acks_head = 0;
	if (c->state != CONN_ACTIVE)
		return;
	if (rc != 0) {
		/* not stored: no acknowledgement; the client resends */
		c->b->acks_failed++;
		broker_conn_close(c, "state store commit failed, closing",
		    true);
		return;
	}
	broker_send_ack(c, (uint8_t)(a >> 16), (uint16_t)a);
}

/*
 * PUBACK/PUBREC for a publish. staged: it wrote to the store, so the ack
 * waits for the commit. Acks stay in the order of the publishes
 * [MQTT-4.6.0-2]: one waiting makes the next wait too.
 */
static void
broker_ack_publish(struct mqtt_conn *c, uint8_t type, uint16_t id,
    bool staged)
{
	struct mqtt_broker	*b = c->b;

	if (b->st == NULL || (!staged && c->nacks == 0)) {
		broker_send_ack(c, type, id);
		return;
	}
	if (c->acks_head + c->nacks == c->capacks) {
		if (c->acks_head > 0) {
			memmove(c->acks, c->acks + c->acks_head,
			    c->nacks * sizeof *c->acks);
			c->acks_head = 0;
		} else {
			c->capacks = c->capacks ? c->capacks * 2 : 16;
			c->acks = fh_xrealloc(c->acks,
			    c->capacks * sizeof *c->acks);
		}
	}
	c->acks[c->acks_head + c->nacks++] = (uint32_t)type << 16 | id;
	b->acks_deferred++;
	fh_state_on_commit(b->st, broker_ack_cb, c);
}

static void
broker_handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s = c->sess;
	uint64_t		 writes = b->st_writes;
	char			*topic;
	bool			 ok;

	b->msgs_in++;
	if (p->qos == 2 && broker_in_qos2_has(s, p->id)) {
		/* a resent QoS 2 message: acknowledge, do not deliver again */
		broker_ack_publish(c, MQTT_PUBREC, p->id, false);
		return;
	}
	topic = fh_xstrndup((const char *)p->topic.p, p->topic.len);
	ok = broker_may_write(c, topic);
	free(topic);
	if (ok)
		broker_emit(b, c->client_id, p->topic.p, p->topic.len,
		    p->payload.p, p->payload.len, p->qos, p->retain);
	if (c->state != CONN_ACTIVE)
		return;
	if (p->qos == 1)
		broker_ack_publish(c, MQTT_PUBACK, p->id,
		    b->st_writes != writes);
	else if (p->qos == 2) {
		if (s->nin_qos2 == s->capin_qos2) {
			s->capin_qos2 = s->capin_qos2 ? s->capin_qos2 * 2 : 8;
			s->in_qos2 = fh_xrealloc(s->in_qos2,
			    s->capin_qos2 * sizeof *s->in_qos2);
		}
		s->in_qos2[s->nin_qos2++] = p->id;
		if (broker_durable(s)) {
			fh_state_qos2_put(b->st, s->id, p->id);
			b->st_writes++;
		}
		broker_ack_publish(c, MQTT_PUBREC, p->id,
		    b->st_writes != writes);
	}
}

static void
broker_inflight_done(struct mqtt_session *s, struct mqtt_out *o)
{
	TAILQ_REMOVE(&s->inflight, o, entry);
	s->ninflight--;
	broker_queue_account(s, 0, broker_msg_cost(o->msg));
	if (o->seq != 0)
		fh_state_msg_ack(s->b->st, o->seq);
	broker_msg_unref(o->msg);
	free(o);
	broker_session_pump(s);
}

static void
broker_handle_ack(struct mqtt_conn *c, uint8_t type, uint16_t id)
{
	struct mqtt_session	*s = c->sess;
	struct mqtt_out		*o = broker_inflight_find(s, id);
	size_t			 i;

	switch (type) {
	case MQTT_PUBACK:
		if (o != NULL && o->qos == 1)
			broker_inflight_done(s, o);
		break;
	case MQTT_PUBREC:
		if (o != NULL && o->qos == 2) {
			/*
			 * Not recorded in the store: after a restart the
			 * message goes out again as PUBLISH with DUP, not as
			 * PUBREL. A client that kept its state answers PUBREC
			 * and delivers it once; one that lost it (a new
			 * process, or a library that drops QoS 2 state on
			 * reconnect) would drop a bare PUBREL and with it
			 * the message. A duplicate is only possible when the
			 * client's PUBCOMP was not committed before the
			 * crash. docs/durability.md.
			 */
			o->state = OUT_WAIT_COMP;
			broker_send_ack(c, MQTT_PUBREL, id);
		}
		break;
	case MQTT_PUBCOMP:
		if (o != NULL && o->qos == 2 && o->state == OUT_WAIT_COMP)
			broker_inflight_done(s, o);
		break;
	case MQTT_PUBREL:
		for (i = 0; i < s->nin_qos2; i++) {
			if (s->in_qos2[i] == id) {
				s->in_qos2[i] = s->in_qos2[--s->nin_qos2];
				if (broker_durable(s))
					fh_state_qos2_del(c->b->st, s->id, id);
				break;
			}
		}
		broker_send_ack(c, MQTT_PUBCOMP, id);
		break;
	}
}

/* Add or update one subscription of s (SUBSCRIBE, or restored). */
static struct mqtt_sub *
broker_session_sub(struct mqtt_session *s, const char *f, size_t flen,
    uint8_t qos)
{
	struct mqtt_sub	*sub;
	size_t		 j;

	topic_subscribe(s->b->topics, f, flen, &s->owner, qos);
	for (j = 0; j < s->nsubs; j++)
		if (s->subs[j].len == flen &&
		    memcmp(s->subs[j].filter, f, flen) == 0)
			break;
	if (j == s->nsubs) {
		if (s->nsubs == s->capsubs) {
			s->capsubs = s->capsubs ? s->capsubs * 2 : 4;
			s->subs = fh_xrealloc(s->subs,
			    s->capsubs * sizeof *s->subs);
		}
		sub = &s->subs[s->nsubs++];
		sub->filter = fh_xstrndup(f, flen);
		sub->len = flen;
	}
	s->subs[j].qos = qos;
	return &s->subs[j];
}

static void
broker_handle_subscribe(struct mqtt_conn *c, const struct mqtt_subscribe *p)
{
	struct mqtt_broker		*b = c->b;
	struct mqtt_session		*s = c->sess;
	struct broker_retained_arg	 ra;
	struct mqtt_sub			*sub;
	uint8_t				*codes, buf[8], *pkt;
	size_t				 i, n;

	codes = fh_xmalloc(p->ntopics);
	for (i = 0; i < p->ntopics; i++) {
		codes[i] = p->topics[i].qos;
		sub = broker_session_sub(s, (const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len, codes[i]);
		if (broker_durable(s))
			fh_state_sub_put(b->st, s->id, sub->filter, sub->qos);
	}
	n = mqtt_encode_suback(buf, sizeof buf, p->id, codes, p->ntopics);
	pkt = n <= sizeof buf ? buf : fh_xmalloc(n);
	mqtt_encode_suback(pkt, n, p->id, codes, p->ntopics);
	broker_write(c, pkt, n);
	if (pkt != buf)
		free(pkt);
	/* then the retained messages of each filter, retain flag set */
	ra.s = s;
	for (i = 0; i < p->ntopics && b->conf.retain; i++) {
		char *f = fh_xstrndup((const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len);

		ra.qos = codes[i];
		topic_retain_match(b->topics, f, p->topics[i].filter.len,
		    broker_retained_cb, &ra);
		free(f);
		if (c->state != CONN_ACTIVE)
			break;
	}
	free(codes);
}

static void
broker_handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_subscribe *p)
{
	struct mqtt_session	*s = c->sess;
	size_t			 i, j;

	for (i = 0; i < p->ntopics; i++) {
		const char *f = (const char *)p->topics[i].filter.p;
		size_t flen = p->topics[i].filter.len;

		for (j = 0; j < s->nsubs; j++) {
			if (s->subs[j].len == flen &&
			    memcmp(s->subs[j].filter, f, flen) == 0) {
				topic_unsubscribe(c->b->topics, f, flen,
				    &s->owner);
				if (broker_durable(s))
					fh_state_sub_del(c->b->st, s->id,
					    s->subs[j].filter);
				free(s->subs[j].filter);
				s->subs[j] = s->subs[--s->nsubs];
				break;
			}
		}
	}
	broker_send_ack(c, MQTT_UNSUBACK, p->id);
}

static void
broker_handle(struct mqtt_conn *c, struct mqtt_packet *pkt)
{
	uint8_t	buf[2];

	if (c->state == CONN_NEW && pkt->type != MQTT_CONNECT) {
		broker_conn_error(c, MQTT_E_PROTOCOL, "first packet not CONNECT");
		return;
	}
	switch (pkt->type) {
	case MQTT_CONNECT:
		if (c->state != CONN_NEW) {
			broker_conn_error(c, MQTT_E_PROTOCOL, "second CONNECT");
			return;
		}
		broker_handle_connect(c, &pkt->u.connect);
		break;
	case MQTT_PUBLISH:
		broker_handle_publish(c, &pkt->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		broker_handle_ack(c, pkt->type, pkt->u.ack.id);
		break;
	case MQTT_SUBSCRIBE:
		broker_handle_subscribe(c, &pkt->u.subscribe);
		break;
	case MQTT_UNSUBSCRIBE:
		broker_handle_unsubscribe(c, &pkt->u.subscribe);
		break;
	case MQTT_PINGREQ:
		broker_write(c, buf, mqtt_encode_empty(buf, sizeof buf,
		    MQTT_PINGRESP));
		break;
	case MQTT_DISCONNECT:
		c->has_will = false;	/* [MQTT-3.14.4-3] */
		broker_conn_close(c, "disconnected", false);
		break;
	default:	/* CONNACK, SUBACK, UNSUBACK, PINGRESP: server-bound? */
		broker_conn_error(c, MQTT_E_PROTOCOL, "unexpected packet type");
		break;
	}
}

static void
broker_read_cb(struct bufferevent *bev, void *arg)
{
	struct mqtt_conn	*c = arg;
	struct mqtt_broker	*b = c->b;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct mqtt_fixed	 fh;
	struct mqtt_packet	 pkt;
	uint8_t			 hdr[5], *p;
	size_t			 have, total, n;
	int			 rc;

	while (c->state != CONN_CLOSING) {
		have = evbuffer_get_length(in);
		n = have < sizeof hdr ? have : sizeof hdr;
		if (evbuffer_copyout(in, hdr, n) != (ev_ssize_t)n)
			return;
		rc = mqtt_fixed_parse(hdr, n, &fh);
		if (rc > 0)
			return;		/* need more */
		if (rc < 0) {
			broker_conn_error(c, rc, "bad remaining length");
			return;
		}
		total = (size_t)fh.hdrlen + fh.remaining;
		/* before buffering the body */
		if (b->conf.max_packet_size > 0 &&
		    total > b->conf.max_packet_size) {
			broker_conn_error(c, MQTT_E_TOO_LARGE, "packet of "
			    "more than max_packet_size");
			return;
		}
		if (c->state == CONN_NEW && fh.type != MQTT_CONNECT) {
			broker_conn_error(c, MQTT_E_PROTOCOL,
			    "first packet not CONNECT");
			return;
		}
		if (have < total)
			return;
		p = evbuffer_pullup(in, (ev_ssize_t)total);
		rc = mqtt_packet_decode(fh.type, fh.flags, p + fh.hdrlen,
		    fh.remaining, c->level, &pkt);
		b->bytes_in += total;
		if (rc == MQTT_E_VERSION && c->state == CONN_NEW) {
			c->level = MQTT_PROTO_31;	/* no session flag */
			broker_refuse(c, MQTT_CONNACK_PROTOCOL,
			    "unacceptable protocol version");
		} else if (rc != 0)
			broker_conn_error(c, rc, fh.type == MQTT_CONNECT ?
			    "bad CONNECT" : "bad packet");
		else
			broker_handle(c, &pkt);
		mqtt_packet_clear(&pkt);
		evbuffer_drain(in, total);
	}
}

static void
broker_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mqtt_conn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->state == CONN_ACTIVE) {
			c->b->keepalive_expired++;
			broker_conn_close(c, "keepalive expired", true);
		} else if (c->state == CONN_NEW)
			broker_conn_close(c, "no CONNECT in time", true);
		else
			broker_conn_schedule_free(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* lost without DISCONNECT: the will goes out */
		broker_conn_close(c, (what & BEV_EVENT_EOF) ?
		    "connection closed by peer" : "connection error", true);
		broker_conn_schedule_free(c);
	}
}

static struct mqtt_lstat *
broker_lstat(struct mqtt_broker *b, const char *name)
{
	struct mqtt_lstat	*l;

	for (l = b->lstats; l != NULL; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	l = fh_xcalloc(1, sizeof *l);
	l->name = fh_xstrdup(name);
	l->next = b->lstats;
	b->lstats = l;
	return l;
}

void
mqtt_broker_accept(struct bufferevent *bev, const struct mqtt_peer *peer,
    void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_conn	*c;
	struct timeval		 tv;

	if (b->conf.max_connections > 0 &&
	    b->nconns >= (size_t)b->conf.max_connections) {
		b->refused_max_conns++;
		if (b->refused_max_conns == 1 ||
		    fh_log_is_enabled(LOG_DEBUG))
			fh_log(LOG_WARNING, "mqtt: max_connections (%d) "
			    "reached, refusing %s", b->conf.max_connections,
			    peer->addr);
		bufferevent_free(bev);
		return;
	}
	c = fh_xcalloc(1, sizeof *c);
	c->b = b;
	c->bev = bev;
	c->addr = fh_xstrdup(peer->addr ? peer->addr : "?");
	c->protocol = fh_xstrdup(peer->protocol ? peer->protocol : "mqtt");
	c->cert_cn = peer->cert_cn ? fh_xstrdup(peer->cert_cn) : NULL;
	c->lstat = broker_lstat(b, peer->listener ? peer->listener : "");
	c->lstat->total++;
	c->lstat->current++;
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev),
	    broker_out_cb, c);
	TAILQ_INSERT_TAIL(&b->conns, c, entry);
	b->nconns++;
	b->conns_total++;
	if (b->nconns > b->maxconns)
		b->maxconns = b->nconns;
	if (b->nconns > b->trim_peak)
		b->trim_peak = b->nconns;
	tv.tv_sec = b->conf.connect_timeout / 1000;
	tv.tv_usec = (b->conf.connect_timeout % 1000) * 1000;
	bufferevent_setcb(bev, broker_read_cb, NULL, broker_event_cb, c);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- $SYS ------------------------------------------------------------ */

static void
broker_sys_pub(struct mqtt_broker *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
broker_sys_pub(struct mqtt_broker *b, const char *name, const char *fmt, ...)
{
	struct fh_event	*ev;
	char		 topic[128], val[128];
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	snprintf(topic, sizeof topic, "$SYS/broker/%s", name);
	ev = fh_event_create_raw(topic, val, n < 0 ? 0 : (size_t)n);
	fh_event_set_retain(ev, true);
	fh_event_set_origin(ev, "$SYS");
	b->sys_msgs++;
	mqtt_broker_publish(b, ev);	/* broker-internal: not on the bus */
	fh_event_unref(ev);
}

static void
broker_load_update(struct mqtt_load *l, uint64_t now_count, double dt)
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
broker_sys_load(struct mqtt_broker *b, const char *name,
    const struct mqtt_load *l)
{
	char	t[96];

	snprintf(t, sizeof t, "load/%s/1min", name);
	broker_sys_pub(b, t, "%.2f", l->m1);
	snprintf(t, sizeof t, "load/%s/5min", name);
	broker_sys_pub(b, t, "%.2f", l->m5);
	snprintf(t, sizeof t, "load/%s/15min", name);
	broker_sys_pub(b, t, "%.2f", l->m15);
}

static void
broker_sys_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;
	double			 now = b->gw ? fh_gateway_uptime(b->gw) : 0;
	double			 dt = now - b->last_sys;
	size_t			 active = 0;
	struct mqtt_conn	*c;

	(void)fd;
	(void)what;
	b->last_sys = now;
	broker_mem_over(b);	/* notice (and log) a ceiling left behind */
	TAILQ_FOREACH(c, &b->conns, entry)
		if (c->state == CONN_ACTIVE)
			active++;
	broker_load_update(&b->load_msgs_in, b->msgs_in, dt);
	broker_load_update(&b->load_msgs_out, b->msgs_out, dt);
	broker_load_update(&b->load_bytes_in, b->bytes_in, dt);
	broker_load_update(&b->load_bytes_out, b->bytes_out, dt);
	broker_load_update(&b->load_conns, b->conns_total, dt);
	broker_sys_pub(b, "version", "firehosed %s", PACKAGE_VERSION);
	broker_sys_pub(b, "uptime", "%.0f seconds", now);
	broker_sys_pub(b, "clients/connected", "%zu", active);
	broker_sys_pub(b, "clients/active", "%zu", active);
	broker_sys_pub(b, "clients/total", "%zu", b->nsessions);
	broker_sys_pub(b, "clients/disconnected", "%zu",
	    b->nsessions > active ? b->nsessions - active : 0);
	broker_sys_pub(b, "clients/maximum", "%zu", b->maxconns);
	broker_sys_pub(b, "messages/received", "%llu",
	    (unsigned long long)b->msgs_in);
	broker_sys_pub(b, "messages/sent", "%llu",
	    (unsigned long long)b->msgs_out);
	broker_sys_pub(b, "publish/messages/dropped", "%llu",
	    (unsigned long long)(b->drop_qos0_slow + b->drop_queue_full +
	    b->drop_queue_bytes + b->drop_memory + b->drop_qos0_memory));
	broker_sys_pub(b, "bytes/received", "%llu",
	    (unsigned long long)b->bytes_in);
	broker_sys_pub(b, "bytes/sent", "%llu",
	    (unsigned long long)b->bytes_out);
	broker_sys_pub(b, "subscriptions/count", "%zu",
	    topic_subscription_count(b->topics));
	broker_sys_pub(b, "retained messages/count", "%zu",
	    topic_retain_count(b->topics));
	broker_sys_load(b, "messages/received", &b->load_msgs_in);
	broker_sys_load(b, "messages/sent", &b->load_msgs_out);
	broker_sys_load(b, "bytes/received", &b->load_bytes_in);
	broker_sys_load(b, "bytes/sent", &b->load_bytes_out);
	broker_sys_load(b, "connections", &b->load_conns);
}

/* ---- session expiry -------------------------------------------------- */

/* Offline persistent sessions not resumed within session_expiry go. */
static void
broker_expiry_cb(evutil_socket_t fd, short what, void *arg)
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
			if (s->conn != NULL)
				continue;
			ms = (now.tv_sec - s->offline_since.tv_sec) * 1000 +
			    (now.tv_usec - s->offline_since.tv_usec) / 1000;
			if (ms < b->conf.session_expiry)
				continue;
			fh_log(LOG_DEBUG, "mqtt %s: offline session expired",
			    s->id);
			b->sessions_expired++;
			if (broker_durable(s))
				fh_state_session_del(b->st, s->id);
			broker_session_free(s);
		}
	}
	broker_mem_over(b);	/* expired sessions may have freed enough */
}

/* ---- restore from the state store ----------------------------------- */

static struct mqtt_msg *
broker_msg_restore(const struct fh_state_msg *sm)
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
	m = broker_msg_create(ev);
	fh_event_unref(ev);
	return m;
}

static int
broker_restore_retain_cb(const struct fh_state_msg *sm, void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_msg		*m = broker_msg_restore(sm);

	topic_retain_set(b->topics, (const char *)m->topic, m->topic_len, m);
	b->restored_retained++;
	return 0;
}

static int
broker_restore_session_cb(const struct fh_state_session *ss, void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_session	*s;
	size_t			 i;

	if (broker_session_find(b, ss->client_id) != NULL)
		return 0;
	s = broker_session_create(b, ss->client_id);
	s->clean = false;
	s->next_id = ss->next_mid;
	/* online when the daemon died: offline from now on; the expiry
	 * timer deletes those offline for too long */
	s->offline_since.tv_sec = ss->disconnected > 0 ?
	    (time_t)ss->disconnected : time(NULL);
	for (i = 0; i < ss->nsubs; i++)
		broker_session_sub(s, ss->subs[i].filter,
		    strlen(ss->subs[i].filter), ss->subs[i].options & 0x03);
	b->restored_sessions++;
	return 0;
}

static int
broker_restore_msg_cb(const struct fh_state_msg *sm, void *arg)
{
	struct mqtt_session	*s = arg;
	struct mqtt_out		*o = fh_xcalloc(1, sizeof *o);

	o->msg = broker_msg_restore(sm);
	o->qos = sm->qos < 1 ? 1 : sm->qos > 2 ? 2 : sm->qos;
	o->retain = sm->retain;
	o->seq = sm->seq;
	broker_queue_account(s, broker_msg_cost(o->msg), 0);
	if (sm->state == FH_STATE_MSG_QUEUED || sm->mid == 0) {
		TAILQ_INSERT_TAIL(&s->queue, o, entry);
		s->nqueued++;
	} else {
		/* resent with DUP (or PUBREL again) when the client is back */
		o->id = sm->mid;
		o->state = sm->state == FH_STATE_MSG_RELEASED && o->qos == 2 ?
		    OUT_WAIT_COMP : OUT_WAIT_ACK;
		TAILQ_INSERT_TAIL(&s->inflight, o, entry);
		s->ninflight++;
	}
	s->b->restored_msgs++;
	return 0;
}

static int
broker_restore_qos2_cb(uint16_t mid, void *arg)
{
	struct mqtt_session	*s = arg;

	if (s->nin_qos2 == s->capin_qos2) {
		s->capin_qos2 = s->capin_qos2 ? s->capin_qos2 * 2 : 8;
		s->in_qos2 = fh_xrealloc(s->in_qos2,
		    s->capin_qos2 * sizeof *s->in_qos2);
	}
	s->in_qos2[s->nin_qos2++] = mid;
	return 0;
}

/* Retained messages and persistent sessions, as the last run left them. */
static void
broker_restore(struct mqtt_broker *b)
{
	struct mqtt_session	*s;
	size_t			 i;

	if (b->conf.retain && fh_state_retain_load_all(b->st,
	    broker_restore_retain_cb, b) != 0)
		fh_log(LOG_ERR, "mqtt: could not read all retained messages "
		    "from %s", fh_state_path(b->st));
	if (fh_state_session_load_all(b->st, broker_restore_session_cb,
	    b) != 0)
		fh_log(LOG_ERR, "mqtt: could not read all sessions from %s",
		    fh_state_path(b->st));
	for (i = 0; i < b->nbuckets; i++) {
		for (s = b->sessions[i]; s != NULL; s = s->hnext) {
			if (fh_state_msg_load(b->st, s->id,
			    broker_restore_msg_cb, s) != 0 ||
			    fh_state_qos2_load(b->st, s->id,
			    broker_restore_qos2_cb, s) != 0)
				fh_log(LOG_ERR, "mqtt %s: could not read the "
				    "session's messages from %s", s->id,
				    fh_state_path(b->st));
		}
	}
	fh_log(LOG_INFO, "mqtt: restored %llu sessions, %llu messages, "
	    "%llu retained from %s", (unsigned long long)b->restored_sessions,
	    (unsigned long long)b->restored_msgs,
	    (unsigned long long)b->restored_retained, fh_state_path(b->st));
}

/* ---- lifecycle ------------------------------------------------------- */

struct mqtt_broker *
mqtt_broker_create(struct fh_gateway *gw, const struct mqtt_broker_conf *conf)
{
	struct mqtt_broker	*b = fh_xcalloc(1, sizeof *b);

	b->gw = gw;
	b->base = gw ? fh_gateway_base(gw) : NULL;
	b->conf = *conf;
	b->conf.password_file = NULL;
	b->conf.acl_file = NULL;
	if (b->conf.max_inflight_messages <= 0)
		b->conf.max_inflight_messages = 1;
	if (b->conf.max_inflight_messages > 65535)
		b->conf.max_inflight_messages = 65535;
	if (b->conf.max_queued_messages < 0)
		b->conf.max_queued_messages = 0;
	if (b->conf.connect_timeout <= 0)
		b->conf.connect_timeout = 10000;
	b->topics = topic_tree_create(broker_retain_free_cb);
	TAILQ_INIT(&b->conns);
	return b;
}

int
mqtt_broker_start(struct mqtt_broker *b)
{
	struct timeval	tv;
	struct fh_state	*st;

	if (b->st == NULL && b->gw != NULL &&
	    (st = fh_gateway_state(b->gw)) != NULL && fh_state_is_durable(st)) {
		b->st = st;
		broker_restore(b);
	}
	if (b->conf.sys_interval > 0 && b->sys_ev == NULL && b->base) {
		b->sys_ev = event_new(b->base, -1, EV_PERSIST, broker_sys_cb,
		    b);
		tv.tv_sec = b->conf.sys_interval / 1000;
		tv.tv_usec = (b->conf.sys_interval % 1000) * 1000;
		event_add(b->sys_ev, &tv);
		broker_sys_cb(-1, 0, b);
	}
	if (b->conf.session_expiry > 0 && b->expiry_ev == NULL && b->base) {
		/* a quarter of the expiry, between 100 ms and a minute */
		long ms = b->conf.session_expiry / 4;

		ms = ms < 100 ? 100 : ms > 60000 ? 60000 : ms;
		b->expiry_ev = event_new(b->base, -1, EV_PERSIST,
		    broker_expiry_cb, b);
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		event_add(b->expiry_ev, &tv);
	}
	return 0;
}

void
mqtt_broker_stop(struct mqtt_broker *b)
{
	struct mqtt_conn	*c;

	if (b->sys_ev != NULL) {
		event_free(b->sys_ev);
		b->sys_ev = NULL;
	}
	if (b->expiry_ev != NULL) {
		event_free(b->expiry_ev);
		b->expiry_ev = NULL;
	}
	if (b->trim_ev != NULL) {
		event_free(b->trim_ev);
		b->trim_ev = NULL;
	}
	/* not from a callback of theirs: free directly (no wills: this is
	 * an orderly shutdown of the server, not a client's loss) */
	while ((c = TAILQ_FIRST(&b->conns)) != NULL)
		broker_conn_free(c);
}

void
mqtt_broker_free(struct mqtt_broker *b)
{
	struct mqtt_lstat	*l;
	size_t			 i;

	if (b == NULL)
		return;
	mqtt_broker_stop(b);
	for (i = 0; i < b->nbuckets; i++)
		while (b->sessions[i] != NULL)
			broker_session_free(b->sessions[i]);
	free(b->sessions);
	topic_tree_free(b->topics);
	mqtt_auth_free(b->auth);
	while ((l = b->lstats) != NULL) {
		b->lstats = l->next;
		free(l->name);
		free(l);
	}
	free(b);
}

void
mqtt_broker_set_auth(struct mqtt_broker *b, struct mqtt_auth *auth)
{
	mqtt_auth_free(b->auth);
	b->auth = auth;
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
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "malformed", (json_int_t)b->err_malformed,
	    "memory_limit", (json_int_t)b->refused_memory,
	    "protocol", (json_int_t)b->err_protocol,
	    "too_large", (json_int_t)b->err_too_large,
	    "auth_failed", (json_int_t)b->err_auth,
	    "max_connections", (json_int_t)b->refused_max_conns,
	    "keepalive_expired", (json_int_t)b->keepalive_expired));
	json_object_set_new(out, "sessions_expired",
	    json_integer((json_int_t)b->sessions_expired));
	json_object_set_new(out, "sessions_full",
	    json_integer((json_int_t)b->sessions_full));
	json_object_set_new(out, "memory", json_pack("{s:I,s:I,s:I,s:I}",
	    "used", (json_int_t)broker_mem_used(b),
	    "queued", (json_int_t)b->mem_queued,
	    "output", (json_int_t)b->mem_out,
	    "max", (json_int_t)b->conf.max_memory));
	if (b->st != NULL)
		json_object_set_new(out, "durable", json_pack(
		    "{s:I,s:I,s:I,s:I,s:I}",
		    "acks_deferred", (json_int_t)b->acks_deferred,
		    "acks_failed", (json_int_t)b->acks_failed,
		    "restored_sessions", (json_int_t)b->restored_sessions,
		    "restored_messages", (json_int_t)b->restored_msgs,
		    "restored_retained", (json_int_t)b->restored_retained));
}
