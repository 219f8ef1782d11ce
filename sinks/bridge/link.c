/*
 * One bridge link: an MQTT client to a remote broker on a bufferevent
 * (plain or OpenSSL), its out-queue and its durable rows.
 *
 * The out-queue holds every event for the remote that the remote has not
 * acknowledged yet, in bus order: first the messages in flight (sent,
 * awaiting PUBACK, PUBREC or PUBCOMP), then those not sent. l->next points
 * at the first one not sent. QoS 0 messages leave the queue once written.
 * The whole queue is bounded by max_queued bytes; what does not fit is
 * dropped when it arrives (the oldest, already accepted, are kept), counted
 * and logged once per episode. With a durable state store, QoS 1 and 2
 * messages are also rows of bridge_queue, written in the turn's shared
 * batch and deleted on the remote's acknowledgement, so the queue survives
 * kill -9 and is sent again, in order, after a restart.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "gateway/backoff.h"
#include "gateway/connect.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/bridge/link.h"
#include "sinks/bridge/wsclient.h"
#include "lib/mqtt/packet.h"
#include "lib/ws/ws_frame.h"

/* Output buffered towards the remote before the queue waits for it. */
#define LINK_HIWAT	(256 * 1024)
/* What one queued message costs besides its topic and payload. */
#define LINK_MSG_OVERHEAD	64

enum link_state {
	LINK_IDLE,		/* waiting for the retry timer */
	LINK_CONNECTING,	/* TCP (every address of the name in
				 * turn), then TLS, under way */
	LINK_UPGRADE,		/* ws/wss: the HTTP upgrade sent */
	LINK_CONNACK,		/* CONNECT sent */
	LINK_UP,
	LINK_STOPPED,
};

enum link_msg_state {
	MSG_QUEUED = 0,
	MSG_SENT = 1,		/* PUBLISH sent, awaiting PUBACK/PUBREC */
	MSG_RELEASED = 2,	/* PUBREL sent, awaiting PUBCOMP */
};

struct link_msg {
	TAILQ_ENTRY(link_msg)	 entry;
	struct fh_event		*ev;		/* holds the payload */
	char			*topic;		/* the remote topic */
	size_t			 topic_len;
	size_t			 size;
	int64_t			 row;		/* bridge_queue id; 0: none */
	uint16_t		 mid;
	uint8_t			 qos;
	uint8_t			 state;
	bool			 retain;
};
TAILQ_HEAD(link_msgs, link_msg);

struct link_db {
	struct fh_state	*st;
	sqlite3_stmt	*ins, *del, *upd, *sel;
};

struct link_counters {
	uint64_t	connects;
	uint64_t	connect_failures;
	uint64_t	disconnects;
	uint64_t	msgs_out;
	uint64_t	bytes_out;
	uint64_t	acked;
	uint64_t	resent;
	uint64_t	msgs_in;
	uint64_t	bytes_in;
	uint64_t	in_unmatched;
	uint64_t	in_bad_topic;
	uint64_t	dropped_queue_full;
	uint64_t	skipped_loop;
	uint64_t	bad_packets;
	uint64_t	refused;
	uint64_t	subscribe_failures;
	uint64_t	restored;
	uint64_t	rejected;	/* 5.0: PUBACK/PUBREC reason >= 0x80 */
	uint64_t	expired;	/* 5.0: message expiry passed */
	uint64_t	too_large;	/* over the remote's maximum packet */
};

struct link {
	struct fh_gateway	*gw;
	struct event_base	*base;
	struct link_conf	 c;
	SSL_CTX			*ssl_ctx;
	struct link_db		*db;
	char			*origin;	/* "bridge:NAME" */
	enum link_state		 state;
	struct fh_connect	*conn;		/* TCP on its way */
	struct bufferevent	*bev;
	bool			 wrapped;	/* bev is the ws filter */
	const char		*ws_err;	/* the filter's reason */
	char			 ws_key[WSCLIENT_KEY_LEN + 1];
	struct event		*retry_ev;
	struct event		*ping_ev;
	struct event		*probe_ev;	/* is the first address back? */
	struct fh_connect	*probe;
	struct fh_backoff	 backoff;
	size_t			 addr;		/* the address in use */
	size_t			 tried;		/* tried in this round */
	char			**addr_err;	/* last error per address */
	bool			 loaded;	/* durable rows read */

	struct link_msgs	 queue;
	struct link_msg		*next;		/* first not sent */
	size_t			 nqueued;
	size_t			 queued_bytes;
	int			 inflight;
	uint16_t		 next_mid;
	uint16_t		 sub_mid;
	bool			 overflowing;
	uint64_t		 overflow_dropped;

	/* What the remote's CONNACK allows (5.0; 3.1.1: everything). */
	int			 send_max;	/* in flight: min(max_inflight,
						 * receive maximum) */
	uint8_t			 max_qos;
	bool			 retain_ok;
	uint32_t		 remote_max_packet;	/* 0: no limit */

	/* the remote's QoS 2 packet ids we PUBREC'd, awaiting PUBREL */
	uint16_t		*in_qos2;
	size_t			 nin_qos2, capin_qos2;
	/* PUBACK/PUBREC waiting for the commit of what the bus staged for
	 * their messages (type << 16 | id), in order */
	uint32_t		*acks;
	size_t			 nacks, capacks;
	bool			 acks_cb;

	bool			 commit_pending;
	int64_t			 batch_floor;	/* first row of the batch */

	struct link_counters	 n;
};

static void	link_fail(struct link *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
static void	link_pump(struct link *);
static void	link_read_cb(struct bufferevent *, void *);
static void	link_write_cb(struct bufferevent *, void *);
static void	link_event_cb(struct bufferevent *, short, void *);

/* ---- configuration helpers ------------------------------------------- */

void
link_conf_free(struct link_conf *c)
{
	size_t	i;

	free(c->name);
	for (i = 0; i < c->naddrs; i++)
		free(c->addrs[i].host);
	free(c->addrs);
	free(c->client_id);
	free(c->username);
	if (c->password != NULL) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->ws_path);
	for (i = 0; i < c->ntopics; i++) {
		free(c->topics[i].local_prefix);
		free(c->topics[i].remote_prefix);
		free(c->topics[i].local_filter);
		free(c->topics[i].remote_filter);
	}
	free(c->topics);
	free(c->notification_topic);
	memset(c, 0, sizeof *c);
}

/* ---- the durable queue ----------------------------------------------- */

static const struct fh_state_migration link_db_steps[] = {
	{ "CREATE TABLE bridge_queue ("
	  "  id INTEGER PRIMARY KEY,"
	  "  bridge TEXT NOT NULL,"
	  "  topic TEXT NOT NULL,"
	  "  payload BLOB NOT NULL,"
	  "  qos INTEGER NOT NULL,"
	  "  retain INTEGER NOT NULL,"
	  "  mid INTEGER NOT NULL DEFAULT 0,"
	  "  state INTEGER NOT NULL DEFAULT 0);"
	  "CREATE INDEX bridge_queue_order ON bridge_queue (bridge, id);",
	  NULL },
	/* MQTT 5: the properties that travel with the message, and its
	 * expiry (wall-clock microseconds, 0: never) */
	{ "ALTER TABLE bridge_queue ADD COLUMN props BLOB NOT NULL "
	  "DEFAULT x'';"
	  "ALTER TABLE bridge_queue ADD COLUMN expiry INTEGER NOT NULL "
	  "DEFAULT 0;",
	  NULL },
};

static const struct fh_state_module link_db_module = {
	.name = "bridge",
	.migrations = link_db_steps,
	.nmigrations = sizeof link_db_steps / sizeof link_db_steps[0],
};

struct link_db *
link_db_open(struct fh_state *st, char **errstr)
{
	struct link_db	*db;

	if (st == NULL || !fh_state_is_durable(st))
		return NULL;
	if (fh_state_register(st, &link_db_module, NULL, errstr) != 0)
		return NULL;
	db = fh_xcalloc(1, sizeof *db);
	db->st = st;
	if ((db->ins = fh_state_prepare(st, "INSERT INTO bridge_queue "
	    "(bridge, topic, payload, qos, retain, props, expiry) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?)", errstr)) == NULL ||
	    (db->del = fh_state_prepare(st, "DELETE FROM bridge_queue "
	    "WHERE id = ?", errstr)) == NULL ||
	    (db->upd = fh_state_prepare(st, "UPDATE bridge_queue SET "
	    "mid = ?, state = ? WHERE id = ?", errstr)) == NULL ||
	    (db->sel = fh_state_prepare(st, "SELECT id, topic, payload, qos, "
	    "retain, mid, state, props, expiry FROM bridge_queue "
	    "WHERE bridge = ? ORDER BY id", errstr)) == NULL) {
		link_db_close(db);
		return NULL;
	}
	return db;
}

void
link_db_close(struct link_db *db)
{
	if (db == NULL)
		return;
	sqlite3_finalize(db->ins);
	sqlite3_finalize(db->del);
	sqlite3_finalize(db->upd);
	sqlite3_finalize(db->sel);
	fh_state_unregister(db->st, link_db_module.name);
	free(db);
}

/* The turn's batch committed (rc 0) or was rolled back (-1): rows it
 * inserted are gone then, and their messages live in memory only. */
static void
link_commit_cb(int rc, void *arg)
{
	struct link	*l = arg;
	struct link_msg	*m;
	size_t		 lost = 0;

	l->commit_pending = false;
	if (rc != 0) {
		TAILQ_FOREACH(m, &l->queue, entry) {
			if (m->row >= l->batch_floor && m->row != 0) {
				m->row = 0;
				lost++;
			}
		}
		if (lost > 0)
			fh_log(LOG_ERR, "bridge %s: %zu queued messages could "
			    "not be stored; they are kept in memory only",
			    l->c.name, lost);
	}
	l->batch_floor = INT64_MAX;
}

static void
link_db_staged(struct link *l, int64_t row)
{
	if (row != 0 && row < l->batch_floor)
		l->batch_floor = row;
	if (!l->commit_pending) {
		l->commit_pending = true;
		fh_state_on_commit(l->db->st, link_commit_cb, l);
	}
}

static void
link_db_insert(struct link *l, struct link_msg *m)
{
	struct link_db	*db = l->db;
	sqlite3_stmt	*s = db->ins;
	size_t		 plen, prlen;
	const uint8_t	*p = fh_event_payload(m->ev, &plen);
	const uint8_t	*pr = fh_event_props(m->ev, &prlen);

	if (fh_state_stage(db->st) != 0)
		return;
	if (sqlite3_bind_text(s, 1, l->c.name, -1, SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_text(s, 2, m->topic, (int)m->topic_len,
	    SQLITE_STATIC) != SQLITE_OK ||
	    fh_state_bind_blob(s, 3, p, plen) != SQLITE_OK ||
	    sqlite3_bind_int(s, 4, m->qos) != SQLITE_OK ||
	    sqlite3_bind_int(s, 5, m->retain) != SQLITE_OK ||
	    fh_state_bind_blob(s, 6, pr, pr ? prlen : 0) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, fh_event_expiry_us(m->ev)) !=
	    SQLITE_OK) {
		fh_state_fail(db->st, "bridge queue insert",
		    sqlite3_errcode(fh_state_db(db->st)));
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return;
	}
	if (fh_state_write(db->st, s, "bridge queue insert") != 0)
		return;
	m->row = sqlite3_last_insert_rowid(fh_state_db(db->st));
	link_db_staged(l, m->row);
}

static void
link_db_delete(struct link *l, struct link_msg *m)
{
	struct link_db	*db = l->db;

	if (db == NULL || m->row == 0 || fh_state_stage(db->st) != 0)
		return;
	sqlite3_bind_int64(db->del, 1, m->row);
	if (fh_state_write(db->st, db->del, "bridge queue delete") == 0)
		link_db_staged(l, 0);
}

static void
link_db_update(struct link *l, struct link_msg *m)
{
	struct link_db	*db = l->db;

	if (db == NULL || m->row == 0 || fh_state_stage(db->st) != 0)
		return;
	sqlite3_bind_int(db->upd, 1, m->mid);
	sqlite3_bind_int(db->upd, 2, m->state);
	sqlite3_bind_int64(db->upd, 3, m->row);
	if (fh_state_write(db->st, db->upd, "bridge queue update") == 0)
		link_db_staged(l, 0);
}

/* ---- the queue ------------------------------------------------------- */

static struct link_msg *
link_msg_create(struct fh_event *ev, char *topic, size_t topic_len,
    uint8_t qos, bool retain)
{
	struct link_msg	*m = fh_xcalloc(1, sizeof *m);
	size_t		 plen;

	fh_event_payload(ev, &plen);
	m->ev = ev;
	m->topic = topic;
	m->topic_len = topic_len;
	m->qos = qos;
	m->retain = retain;
	m->size = topic_len + plen + LINK_MSG_OVERHEAD;
	return m;
}

static void
link_msg_free(struct link_msg *m)
{
	fh_event_unref(m->ev);
	free(m->topic);
	free(m);
}

static void
link_msg_remove(struct link *l, struct link_msg *m)
{
	if (l->next == m)
		l->next = TAILQ_NEXT(m, entry);
	TAILQ_REMOVE(&l->queue, m, entry);
	l->nqueued--;
	l->queued_bytes -= m->size;
	link_msg_free(m);
	if (l->overflowing && l->queued_bytes <= l->c.max_queued / 2) {
		l->overflowing = false;
		fh_log(LOG_WARNING, "bridge %s: out-queue has room again; "
		    "%llu events were dropped while it was full", l->c.name,
		    (unsigned long long)l->overflow_dropped);
		l->overflow_dropped = 0;
	}
}

static void
link_enqueue(struct link *l, struct link_msg *m)
{
	if (l->queued_bytes + m->size > l->c.max_queued) {
		l->n.dropped_queue_full++;
		l->overflow_dropped++;
		if (!l->overflowing) {
			l->overflowing = true;
			fh_log(LOG_WARNING, "bridge %s: out-queue full "
			    "(max_queued %zu bytes, %zu messages): new events "
			    "for the remote are dropped until it drains",
			    l->c.name, l->c.max_queued, l->nqueued);
		}
		link_msg_free(m);
		return;
	}
	TAILQ_INSERT_TAIL(&l->queue, m, entry);
	l->nqueued++;
	l->queued_bytes += m->size;
	if (l->next == NULL)
		l->next = m;
	if (m->qos > 0 && l->db != NULL)
		link_db_insert(l, m);
}

static int
link_restore_rows(struct link *l)
{
	struct link_db	*db = l->db;
	sqlite3_stmt	*s = db->sel;
	struct link_msg	*m;
	struct fh_event	*ev;
	const char	*topic;
	int		 rc;

	sqlite3_bind_text(s, 1, l->c.name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		topic = (const char *)sqlite3_column_text(s, 1);
		if (topic == NULL)
			continue;
		ev = fh_event_create_raw(topic, sqlite3_column_blob(s, 2),
		    (size_t)sqlite3_column_bytes(s, 2));
		if (sqlite3_column_bytes(s, 7) > 0)
			fh_event_set_props(ev, sqlite3_column_blob(s, 7),
			    (size_t)sqlite3_column_bytes(s, 7));
		fh_event_set_expiry_us(ev, sqlite3_column_int64(s, 8));
		m = link_msg_create(ev, fh_xstrdup(topic), strlen(topic),
		    (uint8_t)(sqlite3_column_int(s, 3) & 3),
		    sqlite3_column_int(s, 4) != 0);
		m->row = sqlite3_column_int64(s, 0);
		m->mid = (uint16_t)sqlite3_column_int(s, 5);
		m->state = (uint8_t)sqlite3_column_int(s, 6);
		if (m->qos == 0 || m->qos > 2)
			m->qos = 1;
		if (m->mid == 0 || m->state > MSG_RELEASED)
			m->state = MSG_QUEUED;
		/* accepted before: kept even past a smaller max_queued */
		TAILQ_INSERT_TAIL(&l->queue, m, entry);
		l->nqueued++;
		l->queued_bytes += m->size;
		l->n.restored++;
	}
	l->next = TAILQ_FIRST(&l->queue);
	return fh_state_read_end(db->st, s, rc, "bridge queue load");
}

/* ---- writing packets ------------------------------------------------- */

static void
link_write(struct link *l, const uint8_t *p, size_t n)
{
	bufferevent_write(l->bev, p, n);
}

static void
link_send_ack(struct link *l, uint8_t type, uint16_t id)
{
	uint8_t	buf[8];

	link_write(l, buf, mqtt_encode_ack(buf, sizeof buf, type, id));
}

/* The batch that held the messages' writes committed (or failed, and the
 * store said so): their acknowledgements go now, in order. */
static void
link_acks_cb(int rc, void *arg)
{
	struct link	*l = arg;
	size_t		 i;

	(void)rc;
	l->acks_cb = false;
	if (l->state == LINK_UP)
		for (i = 0; i < l->nacks; i++)
			link_send_ack(l, (uint8_t)(l->acks[i] >> 16),
			    (uint16_t)l->acks[i]);
	l->nacks = 0;
}

/*
 * PUBACK/PUBREC for a message from the remote. staged: the bus wrote it
 * to the state store (a persistent session's queue, a retained message),
 * so the remote hears "have it" only once that is committed; acks stay
 * in the order of the messages [MQTT-4.6.0-2], one waiting makes the
 * next wait too.
 */
static void
link_ack_in(struct link *l, uint8_t type, uint16_t id, bool staged)
{
	if (!staged && l->nacks == 0) {
		link_send_ack(l, type, id);
		return;
	}
	if (l->nacks == l->capacks) {
		l->capacks = l->capacks ? l->capacks * 2 : 16;
		l->acks = fh_xrealloc(l->acks, l->capacks * sizeof *l->acks);
	}
	l->acks[l->nacks++] = (uint32_t)type << 16 | id;
	if (!l->acks_cb) {
		l->acks_cb = true;
		fh_state_on_commit(l->db->st, link_acks_cb, l);
	}
}

static size_t
link_publish_head(struct link *l, uint8_t *out, size_t cap, bool dup,
    uint8_t qos, bool retain, const char *topic, size_t topic_len,
    uint16_t mid, const uint8_t *props, size_t prlen, size_t plen)
{
	if (l->c.version == MQTT_PROTO_5)
		return mqtt_encode_publish_head5(out, cap, dup, qos, retain,
		    (const uint8_t *)topic, topic_len, mid, props, prlen,
		    plen);
	return mqtt_encode_publish_head(out, cap, dup, qos, retain,
	    (const uint8_t *)topic, topic_len, mid, plen);
}

static void
link_send_publish(struct link *l, const char *topic, size_t topic_len,
    const uint8_t *payload, size_t plen, uint8_t qos, bool retain,
    uint16_t mid, bool dup, const uint8_t *props, size_t prlen)
{
	uint8_t	 buf[512], *h = buf;
	size_t	 n;

	if (!l->retain_ok)
		retain = false;
	n = link_publish_head(l, buf, sizeof buf, dup, qos, retain, topic,
	    topic_len, mid, props, prlen, plen);
	if (n > sizeof buf) {
		h = fh_xmalloc(n);
		link_publish_head(l, h, n, dup, qos, retain, topic, topic_len,
		    mid, props, prlen, plen);
	}
	link_write(l, h, n);
	if (plen > 0)
		link_write(l, payload, plen);
	if (h != buf)
		free(h);
	l->n.msgs_out++;
	l->n.bytes_out += n + plen;
}

static bool
link_mid_in_use(struct link *l, uint16_t mid)
{
	struct link_msg	*m;

	if (mid == l->sub_mid)
		return true;
	TAILQ_FOREACH(m, &l->queue, entry) {
		if (m == l->next)
			break;
		if (m->mid == mid)
			return true;
	}
	return false;
}

static uint16_t
link_new_mid(struct link *l)
{
	int	i;

	for (i = 0; i < 65536; i++) {
		if (++l->next_mid == 0)
			l->next_mid = 1;
		if (!link_mid_in_use(l, l->next_mid))
			return l->next_mid;
	}
	return 1;	/* cannot happen: max_inflight <= 65535 */
}

/*
 * The 5.0 properties of m on the wire: the event's (the per-hop ones are
 * not in it) and what is left of its message expiry. 0 when it expired.
 */
static int
link_msg_props(struct link *l, struct link_msg *m, uint8_t **out,
    size_t *len)
{
	const uint8_t	*pr;
	size_t		 prlen = 0, n;
	int64_t		 exp = fh_event_expiry_us(m->ev), left;
	struct mqtt_prop prop;
	struct timeval	 now;

	*out = NULL;
	*len = 0;
	if (l->c.version != MQTT_PROTO_5)
		return 1;
	pr = fh_event_props(m->ev, &prlen);
	if (pr == NULL)
		prlen = 0;
	memset(&prop, 0, sizeof prop);
	if (exp != 0) {
		gettimeofday(&now, NULL);
		left = exp - ((int64_t)now.tv_sec * 1000000 + now.tv_usec);
		if (left <= 0)
			return 0;
		prop.id = MQTT_PROP_MESSAGE_EXPIRY;
		prop.num = (uint32_t)((left + 999999) / 1000000);
	}
	n = exp != 0 ? mqtt_props_write(NULL, 0, &prop, 1) : 0;
	*out = fh_xmalloc(prlen + n + 1);
	if (prlen > 0)
		memcpy(*out, pr, prlen);
	if (n > 0)
		mqtt_props_write(*out + prlen, n, &prop, 1);
	*len = prlen + n;
	return 1;
}

static void
link_send_msg(struct link *l, struct link_msg *m, bool resend)
{
	size_t		 plen, prlen;
	const uint8_t	*p = fh_event_payload(m->ev, &plen);
	uint8_t		*props, qos = m->qos;
	int		 alive = link_msg_props(l, m, &props, &prlen);

	if (!alive || (l->remote_max_packet != 0 &&
	    m->topic_len + plen + prlen + 16 > l->remote_max_packet)) {
		/* expired, or more than the remote takes: it never goes */
		if (!alive)
			l->n.expired++;
		else
			l->n.too_large++;
		free(props);
		link_db_delete(l, m);
		link_msg_remove(l, m);
		return;
	}
	if (qos > l->max_qos)	/* the remote's Maximum QoS */
		qos = l->max_qos;
	if (qos == 0) {
		link_send_publish(l, m->topic, m->topic_len, p, plen, 0,
		    m->retain, 0, false, props, prlen);
		free(props);
		link_db_delete(l, m);
		link_msg_remove(l, m);
		return;
	}
	m->qos = qos;
	l->inflight++;
	if (resend && m->state == MSG_RELEASED) {
		link_send_ack(l, MQTT_PUBREL, m->mid);
		l->n.resent++;
		free(props);
		return;
	}
	if (!resend || m->mid == 0)
		m->mid = link_new_mid(l);
	else
		l->n.resent++;
	link_send_publish(l, m->topic, m->topic_len, p, plen, m->qos,
	    m->retain, m->mid, resend, props, prlen);
	free(props);
	if (m->state != MSG_SENT) {
		m->state = MSG_SENT;
		/* QoS 2 must come back with the same id after a restart */
		if (m->qos == 2)
			link_db_update(l, m);
	}
}

/* Send what the window and the output buffer allow, in order. */
static void
link_pump(struct link *l)
{
	struct evbuffer	*out;
	struct link_msg	*m;

	if (l->state != LINK_UP)
		return;
	out = bufferevent_get_output(l->bev);
	while ((m = l->next) != NULL &&
	    evbuffer_get_length(out) < LINK_HIWAT) {
		if (m->qos > 0 && l->inflight >= l->send_max)
			break;
		l->next = TAILQ_NEXT(m, entry);
		link_send_msg(l, m, false);
	}
}

static void
link_local_state(struct link *l, const char *state)
{
	struct fh_event	*ev;

	if (!l->c.notifications)
		return;
	ev = fh_event_create_raw(l->c.notification_topic, state,
	    strlen(state));
	fh_event_set_retain(ev, true);
	fh_event_set_qos(ev, 1);
	fh_event_set_origin(ev, l->origin);
	fh_gateway_emit(l->gw, ev);
	fh_event_unref(ev);
}

static void
link_send_connect(struct link *l)
{
	struct mqtt_connect	 c;
	struct mqtt_props	 pr;
	uint8_t			*buf, props[32];
	size_t			 n;

	memset(&c, 0, sizeof c);
	if (l->c.version == MQTT_PROTO_5) {
		/* No Local does what the bridge bit did; a session that is
		 * kept must say for how long [MQTT-3.1.2-23] */
		c.level = MQTT_PROTO_5;
		memset(&pr, 0, sizeof pr);
		pr.present = MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE);
		pr.maximum_packet_size = (uint32_t)l->c.max_packet_size;
		if (!l->c.clean_session) {
			pr.present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
			pr.session_expiry = UINT32_MAX;
		}
		c.props.raw.p = props;
		c.props.raw.len = mqtt_props_encode(props, sizeof props, &pr);
	} else {
		c.level = (uint8_t)l->c.version;
		c.bridge = l->c.try_private;
	}
	c.clean = l->c.clean_session;
	c.keepalive = (uint16_t)(l->c.keepalive_ms / 1000);
	c.client_id.p = (const uint8_t *)l->c.client_id;
	c.client_id.len = strlen(l->c.client_id);
	if (l->c.notifications) {
		c.will = true;
		c.will_qos = 1;
		c.will_retain = true;
		c.will_topic.p = (const uint8_t *)l->c.notification_topic;
		c.will_topic.len = strlen(l->c.notification_topic);
		c.will_payload.p = (const uint8_t *)"0";
		c.will_payload.len = 1;
	}
	if (l->c.username != NULL) {
		c.has_username = true;
		c.username.p = (const uint8_t *)l->c.username;
		c.username.len = strlen(l->c.username);
	}
	if (l->c.password != NULL) {
		c.has_password = true;
		c.password.p = (const uint8_t *)l->c.password;
		c.password.len = strlen(l->c.password);
	}
	n = mqtt_encode_connect(NULL, 0, &c);
	buf = fh_xmalloc(n);
	mqtt_encode_connect(buf, n, &c);
	link_write(l, buf, n);
	explicit_bzero(buf, n);
	free(buf);
}

static void
link_send_subscribe(struct link *l)
{
	struct mqtt_subscribe	 s;
	struct mqtt_topic_req	*t;
	uint8_t			*buf;
	size_t			 i, n;

	memset(&s, 0, sizeof s);
	t = fh_xcalloc(l->c.ntopics, sizeof *t);
	for (i = 0; i < l->c.ntopics; i++) {
		if (!(l->c.topics[i].dir & LINK_IN))
			continue;
		t[s.ntopics].filter.p =
		    (const uint8_t *)l->c.topics[i].remote_filter;
		t[s.ntopics].filter.len = strlen(l->c.topics[i].remote_filter);
		t[s.ntopics].qos = (uint8_t)l->c.topics[i].qos;
		/* 5.0: what we publish never comes back [MQTT-3.8.3-3], and
		 * retained stays retained, as Mosquitto does for bridges */
		t[s.ntopics].no_local = true;
		t[s.ntopics].retain_as_published = true;
		s.ntopics++;
	}
	if (s.ntopics == 0) {
		free(t);
		return;
	}
	s.topics = t;
	l->sub_mid = 0;
	s.id = l->sub_mid = link_new_mid(l);
	n = mqtt_encode_subscribe(NULL, 0, l->c.version, MQTT_SUBSCRIBE,
	    &s);
	buf = fh_xmalloc(n);
	mqtt_encode_subscribe(buf, n, l->c.version, MQTT_SUBSCRIBE, &s);
	link_write(l, buf, n);
	free(buf);
	free(t);
}

/* ---- connection ------------------------------------------------------ */

static const char *
link_proto_name(enum link_proto p)
{
	static const char *const names[] = { "mqtt", "mqtts", "ws", "wss" };

	return names[p];
}

static bool
link_is_tls(const struct link *l)
{
	return l->c.proto == LINK_MQTTS || l->c.proto == LINK_WSS;
}

static bool
link_is_ws(const struct link *l)
{
	return l->c.proto == LINK_WS || l->c.proto == LINK_WSS;
}

static void
link_close(struct link *l)
{
	fh_connect_cancel(l->conn);
	l->conn = NULL;
	if (l->bev != NULL) {
		/* a ws filter frees its socket with it */
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
	l->wrapped = false;
	l->ws_err = NULL;
	l->nacks = 0;	/* the remote sends those messages again */
	if (l->ping_ev != NULL)
		event_del(l->ping_ev);
	if (l->probe_ev != NULL)
		event_del(l->probe_ev);
	fh_connect_cancel(l->probe);
	l->probe = NULL;
}

static void
link_schedule_retry(struct link *l)
{
	struct timeval	tv = { 0, 0 };
	long		ms = 0;

	l->tried++;
	l->addr = (l->addr + 1) % l->c.naddrs;
	if (l->tried >= l->c.naddrs) {
		/* every address failed: wait, then start over */
		l->tried = 0;
		ms = fh_backoff_next(&l->backoff);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	l->state = LINK_IDLE;
	event_add(l->retry_ev, &tv);
}

static void
link_fail(struct link *l, const char *fmt, ...)
{
	struct link_addr	*a = &l->c.addrs[l->addr];
	char			 why[512];
	va_list			 ap;
	bool			 was_up = l->state == LINK_UP;

	if (l->state == LINK_STOPPED || l->state == LINK_IDLE)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	link_close(l);
	/* what was in flight is sent again on the next connection */
	l->inflight = 0;
	l->next = TAILQ_FIRST(&l->queue);
	if (was_up) {
		l->n.disconnects++;
		fh_log(LOG_WARNING, "bridge %s: lost %s://%s:%d: %s; "
		    "reconnecting (%zu messages queued)", l->c.name,
		    link_proto_name(l->c.proto), a->host, a->port, why,
		    l->nqueued);
		link_local_state(l, "0");
	} else {
		l->n.connect_failures++;
		/* once per distinct failure of an address, not per try */
		if (l->addr_err[l->addr] == NULL ||
		    strcmp(l->addr_err[l->addr], why) != 0)
			fh_log(LOG_WARNING, "bridge %s: cannot connect to "
			    "%s://%s:%d: %s; retrying with backoff",
			    l->c.name, link_proto_name(l->c.proto), a->host,
			    a->port, why);
		else
			fh_log(LOG_DEBUG, "bridge %s: %s:%d: %s", l->c.name,
			    a->host, a->port, why);
	}
	free(l->addr_err[l->addr]);
	l->addr_err[l->addr] = fh_xstrdup(why);
	link_schedule_retry(l);
}

static void
link_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link	*l = arg;
	uint8_t		 buf[2];

	(void)fd;
	(void)what;
	if (l->state != LINK_UP)
		return;
	link_write(l, buf, mqtt_encode_empty(buf, sizeof buf,
	    MQTT_PINGREQ));
}

/* ": <reason string>" of a 5.0 packet, or "". */
static void
link_reason_string(const struct mqtt_props *p, char *buf, size_t len)
{
	if (!mqtt_props_has(p, MQTT_PROP_REASON_STRING))
		return;
	snprintf(buf, len, ": %.*s", (int)(p->reason_string.len > 120 ? 120 :
	    p->reason_string.len), (const char *)p->reason_string.p);
}

static const char *
link_connack_text(struct link *l, uint8_t rc)
{
	if (l->c.version == MQTT_PROTO_5) {
		switch (rc) {
		case MQTT_RC_UNSUPPORTED_VERSION:
			return "unsupported protocol version";
		case MQTT_RC_CLIENT_ID_INVALID:
			return "client identifier not valid";
		case MQTT_RC_BAD_CREDENTIALS:
			return "bad user name or password";
		case MQTT_RC_NOT_AUTHORIZED:
			return "not authorized";
		case MQTT_RC_SERVER_UNAVAILABLE:
			return "server unavailable";
		case MQTT_RC_SERVER_BUSY:
			return "server busy";
		case MQTT_RC_BANNED:
			return "banned";
		case MQTT_RC_USE_ANOTHER_SERVER:
		case MQTT_RC_SERVER_MOVED:
			return "use another server";
		default:
			return "refused";
		}
	}
	switch (rc) {
	case MQTT_CONNACK_PROTOCOL:
		return "unacceptable protocol version";
	case MQTT_CONNACK_IDENTIFIER:
		return "client identifier rejected";
	case MQTT_CONNACK_UNAVAILABLE:
		return "server unavailable";
	case MQTT_CONNACK_CREDENTIALS:
		return "bad user name or password";
	case MQTT_CONNACK_NOT_AUTHORIZED:
		return "not authorized";
	default:
		return "refused";
	}
}

static void	link_probe_arm(struct link *);

/* The first address answered a TCP connect: leave the later one for it,
 * as Mosquitto's round_robin false does. What was in flight goes again. */
static void
link_probe_done_cb(int fd, const char *why, void *arg)
{
	struct link		*l = arg;
	struct link_addr	*a = &l->c.addrs[0];
	struct timeval		 now = { 0, 0 };

	(void)why;
	l->probe = NULL;
	if (fd == -1) {
		link_probe_arm(l);
		return;
	}
	close(fd);
	if (l->state != LINK_UP)
		return;
	fh_log(LOG_INFO, "bridge %s: %s:%d answers again; moving back to it",
	    l->c.name, a->host, a->port);
	link_close(l);
	l->inflight = 0;
	l->next = TAILQ_FIRST(&l->queue);
	link_local_state(l, "0");
	l->addr = 0;
	l->tried = 0;
	l->state = LINK_IDLE;
	event_add(l->retry_ev, &now);
}

static void
link_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link		*l = arg;
	struct link_addr	*a = &l->c.addrs[0];

	(void)fd;
	(void)what;
	if (l->state != LINK_UP || l->addr == 0 || l->probe != NULL)
		return;
	/* every address of the name, as link_connect tries them */
	l->probe = fh_connect_start(l->gw, a->host, a->port,
	    l->c.connect_timeout_ms, link_probe_done_cb, l);
}

/* On a later address: look at the first one every restart_timeout MAX. */
static void
link_probe_arm(struct link *l)
{
	struct timeval	tv = { l->c.restart_max_ms / 1000,
			    (l->c.restart_max_ms % 1000) * 1000 };

	if (l->c.round_robin || l->addr == 0 || l->state != LINK_UP)
		return;
	if (l->probe_ev == NULL)
		l->probe_ev = evtimer_new(l->base, link_probe_cb, l);
	event_add(l->probe_ev, &tv);
}

/* 5.0 CONNACK properties: the limits the remote sets for us. */
static void
link_limits(struct link *l, const struct mqtt_connack *ca)
{
	const struct mqtt_props	*p = &ca->props;

	l->send_max = l->c.max_inflight;
	l->max_qos = 2;
	l->retain_ok = true;
	l->remote_max_packet = 0;
	if (l->c.version != MQTT_PROTO_5)
		return;
	if (mqtt_props_has(p, MQTT_PROP_RECEIVE_MAXIMUM) &&
	    p->receive_maximum < l->send_max)
		l->send_max = p->receive_maximum;
	if (mqtt_props_has(p, MQTT_PROP_MAXIMUM_QOS))
		l->max_qos = p->maximum_qos;
	if (mqtt_props_has(p, MQTT_PROP_RETAIN_AVAILABLE))
		l->retain_ok = p->retain_available != 0;
	if (mqtt_props_has(p, MQTT_PROP_MAXIMUM_PACKET_SIZE))
		l->remote_max_packet = p->maximum_packet_size;
}

static void
link_up(struct link *l, bool session_present, long ka)
{
	struct link_addr	*a = &l->c.addrs[l->addr];
	struct link_msg		*m, *nm;
	struct timeval		 tv;
	size_t			 i, resend = 0;

	l->state = LINK_UP;
	l->n.connects++;
	fh_backoff_reset(&l->backoff);
	l->tried = 0;
	for (i = 0; i < l->c.naddrs; i++) {
		free(l->addr_err[i]);
		l->addr_err[i] = NULL;
	}
	if (ka > 0) {
		tv.tv_sec = ka * 3 / 2 / 1000;
		tv.tv_usec = (ka * 3 / 2 % 1000) * 1000;
		bufferevent_set_timeouts(l->bev, &tv, NULL);
		tv.tv_sec = ka / 1000;
		tv.tv_usec = (ka % 1000) * 1000;
		event_add(l->ping_ev, &tv);
	} else
		bufferevent_set_timeouts(l->bev, NULL, NULL);

	if (!session_present)	/* the remote forgot its QoS 2 ids too */
		l->nin_qos2 = 0;
	/* In flight before: the same packet ids if the remote kept our
	 * session [MQTT-4.4.0-1], else new messages (QoS 2 ones it had
	 * released are done). */
	for (m = TAILQ_FIRST(&l->queue); m != NULL; m = nm) {
		nm = TAILQ_NEXT(m, entry);
		if (m->state == MSG_QUEUED)
			break;
		if (!session_present) {
			if (m->state == MSG_RELEASED) {
				link_db_delete(l, m);
				link_msg_remove(l, m);
				continue;
			}
			m->state = MSG_QUEUED;
			m->mid = 0;
			continue;
		}
		resend++;
	}
	l->next = TAILQ_FIRST(&l->queue);
	while (resend-- > 0 && (m = l->next) != NULL) {
		l->next = TAILQ_NEXT(m, entry);
		link_send_msg(l, m, true);
	}
	fh_log(LOG_INFO, "bridge %s: connected to %s://%s:%d as '%s'%s "
	    "(%zu messages queued)", l->c.name, link_proto_name(l->c.proto),
	    a->host, a->port, l->c.client_id, session_present ?
	    ", session resumed" : "", l->nqueued);
	link_send_subscribe(l);
	if (l->c.notifications)
		link_send_publish(l, l->c.notification_topic,
		    strlen(l->c.notification_topic), (const uint8_t *)"1", 1,
		    0, true, 0, false, NULL, 0);
	link_local_state(l, "1");
	link_probe_arm(l);
	link_pump(l);
}

/* 5.0: the properties travel on; the per-hop ones and message expiry
 * (which becomes the event's deadline) do not. */
static void
link_in_props(struct fh_event *ev, const struct mqtt_props *pr)
{
	uint8_t		*buf;
	size_t		 n;
	struct timeval	 now;
	uint64_t	 drop = MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS) |
			    MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID) |
			    MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);

	if (pr->raw.len > 0) {
		n = mqtt_props_filter(NULL, 0, &pr->raw, drop);
		buf = fh_xmalloc(n + 1);
		mqtt_props_filter(buf, n, &pr->raw, drop);
		fh_event_set_props(ev, buf, n);
		free(buf);
	}
	if (mqtt_props_has(pr, MQTT_PROP_MESSAGE_EXPIRY)) {
		gettimeofday(&now, NULL);
		fh_event_set_expiry_us(ev, ((int64_t)now.tv_sec +
		    pr->message_expiry) * 1000000 + now.tv_usec);
	}
	if (mqtt_props_has(pr, MQTT_PROP_PAYLOAD_FORMAT))
		fh_event_set_payload_format(ev, pr->payload_format);
}

static void
link_in_publish(struct link *l, const struct mqtt_publish *p)
{
	const struct link_topic	*t = NULL;
	struct fh_state		*st = l->db ? l->db->st : NULL;
	struct fh_event		*ev;
	char			*topic, *local;
	size_t			 i, rplen, lplen, len;
	uint64_t		 writes;
	bool			 staged = false;

	l->n.msgs_in++;
	l->n.bytes_in += p->payload.len;
	if (p->qos == 2) {
		for (i = 0; i < l->nin_qos2; i++)
			if (l->in_qos2[i] == p->id)
				break;
		if (i < l->nin_qos2) {	/* sent again: delivered already */
			link_ack_in(l, MQTT_PUBREC, p->id, false);
			return;
		}
	}
	if (p->topic.len == 0) {
		/* a topic alias, which our CONNECT never allowed */
		l->n.bad_packets++;
		link_fail(l, "protocol error: PUBLISH with a topic alias");
		return;
	}
	topic = fh_xstrndup((const char *)p->topic.p, p->topic.len);
	for (i = 0; i < l->c.ntopics; i++) {
		t = &l->c.topics[i];
		if ((t->dir & LINK_IN) && mqtt_topic_matches(t->remote_filter,
		    topic, p->topic.len))
			break;
	}
	if (i == l->c.ntopics) {
		l->n.in_unmatched++;
		free(topic);
		goto ack;
	}
	rplen = strlen(t->remote_prefix);
	lplen = strlen(t->local_prefix);
	if (p->topic.len < rplen || memcmp(topic, t->remote_prefix,
	    rplen) != 0) {
		l->n.in_unmatched++;
		free(topic);
		goto ack;
	}
	len = lplen + p->topic.len - rplen;
	local = fh_xmalloc(len + 1);
	memcpy(local, t->local_prefix, lplen);
	memcpy(local + lplen, topic + rplen, p->topic.len - rplen);
	local[len] = '\0';
	free(topic);
	if (!fh_topic_is_valid(local, len)) {
		l->n.in_bad_topic++;
		free(local);
		goto ack;
	}
	ev = fh_event_create_raw(local, p->payload.p, p->payload.len);
	free(local);
	if (l->c.version == MQTT_PROTO_5)
		link_in_props(ev, &p->props);
	fh_event_set_qos(ev, p->qos);
	fh_event_set_retain(ev, p->retain);
	fh_event_set_origin(ev, l->origin);	/* never sent back out */
	writes = st ? fh_state_write_count(st) : 0;
	fh_gateway_emit(l->gw, ev);
	staged = st != NULL && fh_state_write_count(st) != writes;
	fh_event_unref(ev);
ack:
	if (p->qos == 1)
		link_ack_in(l, MQTT_PUBACK, p->id, staged);
	else if (p->qos == 2) {
		if (l->nin_qos2 == l->capin_qos2) {
			l->capin_qos2 = l->capin_qos2 ? l->capin_qos2 * 2 : 16;
			l->in_qos2 = fh_xrealloc(l->in_qos2,
			    l->capin_qos2 * sizeof *l->in_qos2);
		}
		l->in_qos2[l->nin_qos2++] = p->id;
		link_ack_in(l, MQTT_PUBREC, p->id, staged);
	}
}

static struct link_msg *
link_find_sent(struct link *l, uint16_t mid, uint8_t qos)
{
	struct link_msg	*m;

	TAILQ_FOREACH(m, &l->queue, entry) {
		if (m == l->next)
			break;
		if (m->mid == mid && m->qos == qos)
			return m;
	}
	return NULL;
}

static void
link_rejected(struct link *l, struct link_msg *m, uint8_t reason)
{
	l->n.rejected++;
	fh_log(l->n.rejected == 1 ? LOG_WARNING : LOG_DEBUG, "bridge %s: "
	    "the remote refused a message to '%s' (reason 0x%02x)%s",
	    l->c.name, m->topic, reason, l->n.rejected == 1 ?
	    "; later refusals are counted (rejected)" : "");
}

static void
link_acked(struct link *l, struct link_msg *m)
{
	l->inflight--;
	l->n.acked++;
	link_db_delete(l, m);
	link_msg_remove(l, m);
}

static void
link_handle(struct link *l, const struct mqtt_packet *pkt)
{
	struct link_msg	*m;
	size_t		 i;
	long		 ka;

	if (l->state == LINK_CONNACK) {
		if (pkt->type != MQTT_CONNACK) {
			l->n.bad_packets++;
			link_fail(l, "protocol error: packet type %d before "
			    "CONNACK", pkt->type);
			return;
		}
		if (pkt->u.connack.rc != MQTT_CONNACK_ACCEPTED) {
			char	rs[160] = "";

			l->n.refused++;
			link_reason_string(&pkt->u.connack.props, rs,
			    sizeof rs);
			link_fail(l, "refused by the remote: %s (code %d)%s",
			    link_connack_text(l, pkt->u.connack.rc),
			    pkt->u.connack.rc, rs);
			return;
		}
		ka = l->c.keepalive_ms;
		if (l->c.version == MQTT_PROTO_5 &&
		    mqtt_props_has(&pkt->u.connack.props,
		    MQTT_PROP_SERVER_KEEPALIVE))
			ka = pkt->u.connack.props.server_keepalive * 1000L;
		link_limits(l, &pkt->u.connack);
		link_up(l, pkt->u.connack.session_present &&
		    !l->c.clean_session, ka);
		return;
	}
	switch (pkt->type) {
	case MQTT_PUBLISH:
		link_in_publish(l, &pkt->u.publish);
		break;
	case MQTT_PUBACK:
		if ((m = link_find_sent(l, pkt->u.ack.id, 1)) != NULL) {
			if (pkt->u.ack.reason >= 0x80)
				link_rejected(l, m, pkt->u.ack.reason);
			link_acked(l, m);
		}
		break;
	case MQTT_PUBREC:
		if (pkt->u.ack.reason >= 0x80) {
			/* 5.0: refused; the exchange ends here */
			if ((m = link_find_sent(l, pkt->u.ack.id, 2)) != NULL) {
				link_rejected(l, m, pkt->u.ack.reason);
				link_acked(l, m);
			}
			break;
		}
		if ((m = link_find_sent(l, pkt->u.ack.id, 2)) == NULL) {
			/* not ours (any more): let the remote finish */
			link_send_ack(l, MQTT_PUBREL, pkt->u.ack.id);
			break;
		}
		if (m->state != MSG_RELEASED) {
			m->state = MSG_RELEASED;
			link_db_update(l, m);
		}
		link_send_ack(l, MQTT_PUBREL, m->mid);
		break;
	case MQTT_PUBCOMP:
		if ((m = link_find_sent(l, pkt->u.ack.id, 2)) != NULL &&
		    m->state == MSG_RELEASED)
			link_acked(l, m);
		break;
	case MQTT_PUBREL:
		for (i = 0; i < l->nin_qos2; i++)
			if (l->in_qos2[i] == pkt->u.ack.id) {
				l->in_qos2[i] = l->in_qos2[--l->nin_qos2];
				break;
			}
		link_send_ack(l, MQTT_PUBCOMP, pkt->u.ack.id);
		break;
	case MQTT_SUBACK:
		if (pkt->u.suback.id != l->sub_mid)
			break;
		l->sub_mid = 0;
		for (i = 0; i < pkt->u.suback.ncodes; i++) {
			if (pkt->u.suback.codes[i] < 0x80)
				continue;
			l->n.subscribe_failures++;
			fh_log(LOG_WARNING, "bridge %s: the remote refused a "
			    "subscription (topic line %zu of the in "
			    "direction)", l->c.name, i + 1);
		}
		break;
	case MQTT_UNSUBACK:
	case MQTT_PINGRESP:
		break;
	case MQTT_DISCONNECT:	/* 5.0: the remote says why */
		if (l->c.version == MQTT_PROTO_5) {
			char	rs[160] = "";

			link_reason_string(&pkt->u.ack.props, rs, sizeof rs);
			link_fail(l, "disconnected by the remote (reason "
			    "0x%02x)%s", pkt->u.ack.reason, rs);
			return;
		}
		/* FALLTHROUGH */
	default:
		l->n.bad_packets++;
		link_fail(l, "protocol error: unexpected packet type %d from "
		    "the remote", pkt->type);
		return;
	}
	link_pump(l);
}

/* ws/wss: the server's answer to the upgrade; then MQTT in frames. */
static void
link_ws_upgrade(struct link *l)
{
	struct evbuffer		*in = bufferevent_get_input(l->bev);
	struct bufferevent	*ws;
	struct timeval		 tv = { l->c.connect_timeout_ms / 1000,
				    (l->c.connect_timeout_ms % 1000) * 1000 };
	size_t			 len = evbuffer_get_length(in), used = 0;
	char			 why[128];
	int			 rc;

	if (len > WSCLIENT_MAX_RESPONSE)
		len = WSCLIENT_MAX_RESPONSE;
	rc = wsclient_response(evbuffer_pullup(in, (ev_ssize_t)len), len,
	    l->ws_key, &used, why, sizeof why);
	if (rc > 0)
		return;
	if (rc < 0) {
		l->n.refused++;
		link_fail(l, "WebSocket upgrade refused: %s", why);
		return;
	}
	evbuffer_drain(in, used);
	ws = wsclient_wrap(l->bev, l->c.max_packet_size + WS_HEADER_MAX,
	    &l->ws_err);
	if (ws == NULL) {
		link_fail(l, "cannot make the WebSocket filter");
		return;
	}
	l->bev = ws;
	l->wrapped = true;
	bufferevent_setcb(l->bev, link_read_cb, link_write_cb, link_event_cb,
	    l);
	bufferevent_setwatermark(l->bev, EV_WRITE, LINK_HIWAT / 2, 0);
	bufferevent_set_timeouts(l->bev, &tv, &tv);
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	l->state = LINK_CONNACK;
	link_send_connect(l);
}

static void
link_read_cb(struct bufferevent *bev, void *arg)
{
	struct link		*l = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct mqtt_fixed	 fh;
	struct mqtt_packet	 pkt;
	uint8_t			 hdr[5], *p;
	size_t			 have, total, n;
	int			 rc;

	if (l->state == LINK_UPGRADE && l->bev == bev) {
		link_ws_upgrade(l);
		return;
	}
	while (l->bev == bev && (l->state == LINK_CONNACK ||
	    l->state == LINK_UP)) {
		have = evbuffer_get_length(in);
		n = have < sizeof hdr ? have : sizeof hdr;
		if (n == 0 || evbuffer_copyout(in, hdr, n) != (ev_ssize_t)n)
			return;
		rc = mqtt_fixed_parse(hdr, n, &fh);
		if (rc > 0)
			return;
		if (rc < 0) {
			l->n.bad_packets++;
			link_fail(l, "bad packet from the remote: %s",
			    mqtt_strerror(rc));
			return;
		}
		total = (size_t)fh.hdrlen + fh.remaining;
		if (total > l->c.max_packet_size) {
			l->n.bad_packets++;
			link_fail(l, "packet of %zu bytes from the remote, "
			    "over max_packet_size", total);
			return;
		}
		if (have < total)
			return;
		p = evbuffer_pullup(in, (ev_ssize_t)total);
		rc = mqtt_packet_decode(fh.type, fh.flags, p + fh.hdrlen,
		    fh.remaining, l->c.version, &pkt);
		if (rc != 0) {
			l->n.bad_packets++;
			link_fail(l, "bad packet from the remote (type %d): "
			    "%s", fh.type, mqtt_strerror(rc));
			return;
		}
		link_handle(l, &pkt);
		mqtt_packet_clear(&pkt);
		if (l->bev == bev)
			evbuffer_drain(in, total);
	}
}

static void
link_write_cb(struct bufferevent *bev, void *arg)
{
	struct link	*l = arg;

	(void)bev;
	link_pump(l);
}

static const char *
link_tls_error(struct link *l, char *buf, size_t len)
{
	struct bufferevent *sb = l->wrapped ?
			    bufferevent_get_underlying(l->bev) : l->bev;
	SSL		*ssl = bufferevent_openssl_get_ssl(sb);
	unsigned long	 e, last = 0;
	long		 vr;

	while ((e = bufferevent_get_openssl_error(sb)) != 0)
		last = e;
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, len, "TLS: certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
		return buf;
	}
	if (last != 0) {
		char	e1[256];

		ERR_error_string_n(last, e1, sizeof e1);
		snprintf(buf, len, "TLS: %s", e1);
		return buf;
	}
	return NULL;
}

/* TCP (and TLS) is up: the WebSocket upgrade or the CONNECT next. */
static void
link_transport_up(struct link *l)
{
	struct timeval	tv = { l->c.connect_timeout_ms / 1000,
	    (l->c.connect_timeout_ms % 1000) * 1000 };

	/* the connect timeout starts again for what follows */
	bufferevent_set_timeouts(l->bev, &tv, &tv);
	if (link_is_ws(l)) {
		struct link_addr *a = &l->c.addrs[l->addr];
		char *req = wsclient_request(a->host, a->port,
		    l->c.ws_path, l->ws_key);

		l->state = LINK_UPGRADE;
		link_write(l, (const uint8_t *)req, strlen(req));
		free(req);
		return;
	}
	l->state = LINK_CONNACK;
	link_send_connect(l);
}

static void
link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct link	*l = arg;
	char		 buf[300];
	const char	*tls;
	int		 err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		link_transport_up(l);	/* the TLS handshake is done */
		return;
	}
	if (l->ws_err != NULL && *l->ws_err != '\0' &&
	    (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		link_fail(l, "%s", l->ws_err);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (l->state == LINK_UP)
			link_fail(l, "no answer within 1.5 x keepalive");
		else if (l->state == LINK_CONNACK)
			link_fail(l, "no CONNACK within %ld ms",
			    l->c.connect_timeout_ms);
		else if (l->state == LINK_UPGRADE)
			link_fail(l, "no WebSocket upgrade within %ld ms",
			    l->c.connect_timeout_ms);
		else
			link_fail(l, "no TLS handshake within %ld ms",
			    l->c.connect_timeout_ms);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (link_is_tls(l) && l->state == LINK_CONNECTING &&
		    (tls = link_tls_error(l, buf, sizeof buf)) != NULL)
			link_fail(l, "%s", tls);
		else
			link_fail(l, "connection closed by the remote");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (link_is_tls(l) &&
		    (tls = link_tls_error(l, buf, sizeof buf)) != NULL)
			link_fail(l, "%s", tls);
		else
			link_fail(l, "%s", err ?
			    evutil_socket_error_to_string(err) :
			    "connection error");
	}
}

static bool
link_host_is_ip(const char *host)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	return inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
}

/* TCP is up (fh_connect tried every address the name resolves to) or
 * every try failed: the socket goes into a bufferevent, OpenSSL's for
 * mqtts and wss, which then shakes hands. */
static void
link_connected_cb(int fd, const char *why, void *arg)
{
	struct link		*l = arg;
	struct link_addr	*a = &l->c.addrs[l->addr];
	int			 opts = BEV_OPT_CLOSE_ON_FREE |
				    BEV_OPT_DEFER_CALLBACKS;
	struct timeval		 tv = { l->c.connect_timeout_ms / 1000,
				    (l->c.connect_timeout_ms % 1000) * 1000 };

	l->conn = NULL;
	if (fd == -1) {
		link_fail(l, "%s", why);
		return;
	}
	if (link_is_tls(l)) {
		SSL	*ssl = SSL_new(l->ssl_ctx);

		if (ssl == NULL) {
			close(fd);
			link_fail(l, "SSL_new failed");
			return;
		}
		if (!link_host_is_ip(a->host))
			SSL_set_tlsext_host_name(ssl, a->host);
		if (l->c.tls_verify) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

			if (link_host_is_ip(a->host))
				X509_VERIFY_PARAM_set1_ip_asc(vp, a->host);
			else
				X509_VERIFY_PARAM_set1_host(vp, a->host, 0);
		}
		l->bev = bufferevent_openssl_socket_new(l->base, fd, ssl,
		    BUFFEREVENT_SSL_CONNECTING, opts);
		if (l->bev == NULL)
			SSL_free(ssl);
	} else
		l->bev = bufferevent_socket_new(l->base, fd, opts);
	if (l->bev == NULL) {
		close(fd);
		link_fail(l, "cannot create a bufferevent");
		return;
	}
	bufferevent_setcb(l->bev, link_read_cb, link_write_cb, link_event_cb,
	    l);
	bufferevent_setwatermark(l->bev, EV_WRITE, LINK_HIWAT / 2, 0);
	bufferevent_set_timeouts(l->bev, &tv, &tv);
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	if (!link_is_tls(l))
		link_transport_up(l);
}

static void
link_connect(struct link *l)
{
	struct link_addr	*a = &l->c.addrs[l->addr];

	l->state = LINK_CONNECTING;
	l->conn = fh_connect_start(l->gw, a->host, a->port,
	    l->c.connect_timeout_ms, link_connected_cb, l);
}

static void
link_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link	*l = arg;

	(void)fd;
	(void)what;
	if (l->state == LINK_IDLE)
		link_connect(l);
}

/* ---- lifecycle ------------------------------------------------------- */

static int
link_tls_file(const char *path, const char *key, const char **keyp,
    char **errstr)
{
	if (path == NULL || *path == '\0' || access(path, R_OK) == 0)
		return 0;
	*keyp = key;
	*errstr = fh_xasprintf("cannot read '%s': %s", path, strerror(errno));
	return -1;
}

SSL_CTX *
link_tls_ctx(const struct link_conf *c, const char **key, char **errstr)
{
	SSL_CTX		*ctx;
	char		 ebuf[256];
	unsigned long	 e;

	*key = NULL;
	if (link_tls_file(c->ca_file, "ca_file", key, errstr) != 0 ||
	    link_tls_file(c->cert_file, "cert_file", key, errstr) != 0 ||
	    link_tls_file(c->key_file, "key_file", key, errstr) != 0)
		return NULL;
	if ((*c->cert_file == '\0') != (*c->key_file == '\0')) {
		*key = *c->cert_file ? "key_file" : "cert_file";
		*errstr = fh_xstrdup("cert_file and key_file go together");
		return NULL;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto sslfail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (*c->ca_file != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->ca_file,
		    NULL) != 1) {
			*key = "ca_file";
			goto sslfail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto sslfail;
	if (*c->cert_file != '\0') {
		if (SSL_CTX_use_certificate_chain_file(ctx,
		    c->cert_file) != 1) {
			*key = "cert_file";
			goto sslfail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file,
		    SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			*key = "key_file";
			goto sslfail;
		}
	}
	SSL_CTX_set_verify(ctx, c->tls_verify ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	return ctx;
sslfail:
	e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, ebuf, sizeof ebuf);
	else
		snprintf(ebuf, sizeof ebuf, "unknown TLS error");
	ERR_clear_error();
	*errstr = fh_xasprintf("TLS setup failed: %s", ebuf);
	SSL_CTX_free(ctx);
	return NULL;
}

struct link *
link_create(struct fh_gateway *gw, struct link_conf *c, SSL_CTX *ctx)
{
	struct link	*l = fh_xcalloc(1, sizeof *l);

	l->gw = gw;
	l->c = *c;
	memset(c, 0, sizeof *c);
	l->ssl_ctx = ctx;
	l->origin = fh_xasprintf("bridge:%s", l->c.name);
	l->addr_err = fh_xcalloc(l->c.naddrs, sizeof *l->addr_err);
	l->state = LINK_STOPPED;
	l->batch_floor = INT64_MAX;
	TAILQ_INIT(&l->queue);
	fh_backoff_init(&l->backoff, l->c.restart_min_ms,
	    l->c.restart_max_ms);
	return l;
}

int
link_start(struct link *l, struct link_db *db, char **errstr)
{
	if (l->state != LINK_STOPPED)
		return 0;
	l->base = fh_gateway_base(l->gw);
	l->db = db;
	if (db != NULL && !l->loaded) {
		if (link_restore_rows(l) != 0) {
			*errstr = fh_xasprintf("bridge %s: cannot read the "
			    "queue from the state store", l->c.name);
			return -1;
		}
		if (l->nqueued > 0)
			fh_log(LOG_INFO, "bridge %s: %zu queued messages "
			    "restored", l->c.name, l->nqueued);
	}
	l->loaded = true;
	if (l->retry_ev == NULL) {
		l->retry_ev = evtimer_new(l->base, link_retry_cb, l);
		l->ping_ev = event_new(l->base, -1, EV_PERSIST, link_ping_cb,
		    l);
	}
	link_local_state(l, "0");
	l->state = LINK_IDLE;
	l->addr = 0;
	l->tried = 0;
	link_connect(l);
	return 0;
}

void
link_stop(struct link *l)
{
	bool	was_up = l->state == LINK_UP;

	if (l->state == LINK_STOPPED)
		return;
	link_close(l);
	if (l->retry_ev != NULL)
		event_del(l->retry_ev);
	l->state = LINK_STOPPED;
	l->inflight = 0;
	l->next = TAILQ_FIRST(&l->queue);
	if (was_up)
		fh_log(LOG_INFO, "bridge %s: disconnected (stopping)",
		    l->c.name);
	if (l->db != NULL)
		fh_state_cancel(l->db->st, l);
	l->commit_pending = false;
	l->acks_cb = false;
	l->db = NULL;
}

void
link_free(struct link *l)
{
	struct link_msg	*m;
	size_t		 i;

	if (l == NULL)
		return;
	link_stop(l);
	while ((m = TAILQ_FIRST(&l->queue)) != NULL) {
		TAILQ_REMOVE(&l->queue, m, entry);
		link_msg_free(m);
	}
	if (l->retry_ev != NULL)
		event_free(l->retry_ev);
	if (l->ping_ev != NULL)
		event_free(l->ping_ev);
	if (l->probe_ev != NULL)
		event_free(l->probe_ev);
	for (i = 0; i < l->c.naddrs; i++)
		free(l->addr_err[i]);
	free(l->addr_err);
	free(l->in_qos2);
	free(l->acks);
	free(l->origin);
	SSL_CTX_free(l->ssl_ctx);
	link_conf_free(&l->c);
	free(l);
}

void
link_reload(struct link *l, struct link_conf *c, SSL_CTX *ctx)
{
	char	*t;

	/* SSL objects hold their own reference to the old context; a
	 * protocol change waits for a restart */
	if (link_is_tls(l) && ctx != NULL) {
		SSL_CTX_free(l->ssl_ctx);
		l->ssl_ctx = ctx;
	} else
		SSL_CTX_free(ctx);
	t = l->c.username;
	l->c.username = c->username;
	c->username = t;
	t = l->c.password;
	l->c.password = c->password;
	c->password = t;		/* zeroed and freed by the caller */
	fh_log(LOG_INFO, "bridge %s: credentials and TLS files read again; "
	    "used from the next connection", l->c.name);
}

const char *
link_name(const struct link *l)
{
	return l->c.name;
}

void
link_publish(struct link *l, struct fh_event *ev)
{
	const struct link_topic	*t = NULL;
	const char		*topic = fh_event_topic(ev);
	size_t			 tlen = fh_event_topic_len(ev), i, lp, rp;
	char			*remote;

	if (l->state == LINK_STOPPED)
		return;
	for (i = 0; i < l->c.ntopics; i++) {
		t = &l->c.topics[i];
		if ((t->dir & LINK_OUT) && mqtt_topic_matches(t->local_filter,
		    topic, tlen))
			break;
	}
	if (i == l->c.ntopics)
		return;
	if (strcmp(fh_event_origin(ev), l->origin) == 0) {
		/* it came in over this bridge: never back out */
		l->n.skipped_loop++;
		return;
	}
	lp = strlen(t->local_prefix);
	rp = strlen(t->remote_prefix);
	if (tlen < lp || memcmp(topic, t->local_prefix, lp) != 0)
		return;
	if (rp + tlen - lp > 65535) {	/* the prefix made it too long */
		l->n.too_large++;
		return;
	}
	remote = fh_xmalloc(rp + tlen - lp + 1);
	memcpy(remote, t->remote_prefix, rp);
	memcpy(remote + rp, topic + lp, tlen - lp);
	remote[rp + tlen - lp] = '\0';
	link_enqueue(l, link_msg_create(fh_event_ref(ev), remote,
	    rp + tlen - lp, (uint8_t)t->qos, fh_event_retain(ev)));
	link_pump(l);
}

void
link_stats(struct link *l, json_t *out)
{
	static const char *const states[] = { "connecting", "connecting",
	    "connecting", "connecting", "connected", "stopped" };
	struct link_addr	*a = &l->c.addrs[l->addr];
	char			*remote;

	remote = fh_xasprintf("%s://%s:%d", link_proto_name(l->c.proto),
	    a->host, a->port);
	json_object_set_new(out, "remote", json_string(remote));
	free(remote);
	json_object_set_new(out, "state", json_string(states[l->state]));
	json_object_set_new(out, "connected",
	    json_integer(l->state == LINK_UP));
#define LINK_STAT(k, v) \
	json_object_set_new(out, k, json_integer((json_int_t)(v)))
	LINK_STAT("connects", l->n.connects);
	LINK_STAT("connect_failures", l->n.connect_failures);
	LINK_STAT("disconnects", l->n.disconnects);
	LINK_STAT("refused", l->n.refused);
	LINK_STAT("bad_packets", l->n.bad_packets);
	LINK_STAT("messages_sent", l->n.msgs_out);
	LINK_STAT("bytes_sent", l->n.bytes_out);
	LINK_STAT("acked", l->n.acked);
	LINK_STAT("resent", l->n.resent);
	LINK_STAT("messages_received", l->n.msgs_in);
	LINK_STAT("bytes_received", l->n.bytes_in);
	LINK_STAT("received_unmatched", l->n.in_unmatched);
	LINK_STAT("received_bad_topic", l->n.in_bad_topic);
	LINK_STAT("queued", l->nqueued);
	LINK_STAT("queued_bytes", l->queued_bytes);
	LINK_STAT("inflight", l->inflight);
	LINK_STAT("dropped_queue_full", l->n.dropped_queue_full);
	LINK_STAT("loop_skipped", l->n.skipped_loop);
	LINK_STAT("subscribe_failures", l->n.subscribe_failures);
	LINK_STAT("restored", l->n.restored);
	LINK_STAT("rejected", l->n.rejected);
	LINK_STAT("expired", l->n.expired);
	LINK_STAT("too_large", l->n.too_large);
#undef LINK_STAT
}
