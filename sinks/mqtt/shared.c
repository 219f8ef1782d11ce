/*
 * Shared subscriptions, $share/GROUP/filter (MQTT 5.0 section 4.8.2; the
 * broker takes them from 3.1.1 clients too, as Mosquitto does). A group
 * is one owner in the topic tree; each message that matches goes to one
 * member, round robin, preferring members that are connected. When a
 * member's connection is lost, the group's messages it holds go to
 * another member: those queued for it, and those in flight at QoS 1
 * (5.0 section 4.8.2 allows it). A QoS 2 message in flight stays with
 * its member, to be completed when it reconnects, and goes to nobody
 * else if its session ends [MQTT-4.8.2-4, -5]. When a member connects,
 * it (or another connected member) takes the group's messages that wait
 * on offline members in the same way, so that they do not wait on a
 * member that may never come back while another is there.
 *
 * With state_dir each stored message keeps the group it was given for
 * (msg.share), so that after a restart, when every member counts as
 * offline, it is still the group's: the first member to connect takes
 * it.
 *
 * Members are sessions; their subscription (QoS, subscription id) is read
 * from the session's own list at each delivery, so nothing is copied.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

struct shared_group {
	struct topic_owner	  owner;	/* shared, ctx = this group */
	struct shared_group	 *next;
	uint32_t		  id;
	char			 *key;		/* "$share/GROUP/filter" */
	size_t			  key_len;
	const char		 *filter;	/* into key */
	size_t			  filter_len;
	struct mqtt_session	**members;
	size_t			  n, cap, turn;
};

static struct shared_group *
shared_find(struct mqtt_broker *b, const char *key, size_t len)
{
	struct shared_group	*g;

	for (g = b->shared; g != NULL; g = g->next)
		if (g->key_len == len && memcmp(g->key, key, len) == 0)
			return g;
	return NULL;
}

static struct shared_group *
shared_find_id(struct mqtt_broker *b, uint32_t id)
{
	struct shared_group	*g;

	for (g = b->shared; g != NULL; g = g->next)
		if (g->id == id)
			return g;
	return NULL;
}

/* The key ("$share/GROUP/filter") of group id, for the store; NULL. */
const char *
shared_group_key(struct mqtt_broker *b, uint32_t id)
{
	struct shared_group	*g = id != 0 ? shared_find_id(b, id) : NULL;

	return g != NULL ? g->key : NULL;
}

/* The id of the group with this key, 0 none (a restored message). */
uint32_t
shared_group_id(struct mqtt_broker *b, const char *key)
{
	struct shared_group	*g = shared_find(b, key, strlen(key));

	return g != NULL ? g->id : 0;
}

void
shared_join(struct mqtt_session *s, const struct mqtt_sub *sub)
{
	struct mqtt_broker	*b = s->b;
	struct shared_group	*g = shared_find(b, sub->filter, sub->len);
	struct mqtt_str		 name, filter;
	size_t			 i;

	if (g == NULL) {
		if (mqtt_filter_shared((const uint8_t *)sub->filter, sub->len,
		    &name, &filter) != 1)
			return;
		g = fh_xcalloc(1, sizeof *g);
		g->owner.shared = true;
		g->owner.ctx = g;
		g->id = ++b->shared_next_id;
		g->key = fh_xstrndup(sub->filter, sub->len);
		g->key_len = sub->len;
		g->filter = g->key + (filter.p - (const uint8_t *)sub->filter);
		g->filter_len = filter.len;
		g->next = b->shared;
		b->shared = g;
		/* the members' QoS is applied at delivery */
		topic_subscribe(b->topics, g->filter, g->filter_len,
		    &g->owner, 2);
	}
	for (i = 0; i < g->n; i++)
		if (g->members[i] == s)
			return;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4;
		g->members = fh_xrealloc(g->members,
		    g->cap * sizeof *g->members);
	}
	g->members[g->n++] = s;
}

void
shared_leave(struct mqtt_session *s, const struct mqtt_sub *sub)
{
	struct mqtt_broker	 *b = s->b;
	struct shared_group	 *g = shared_find(b, sub->filter, sub->len);
	struct shared_group	**pp;
	size_t			  i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++) {
		if (g->members[i] == s) {
			memmove(&g->members[i], &g->members[i + 1],
			    (g->n - i - 1) * sizeof *g->members);
			g->n--;
			break;
		}
	}
	if (g->n > 0)
		return;
	topic_unsubscribe(b->topics, g->filter, g->filter_len, &g->owner);
	for (pp = &b->shared; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	free(g->members);
	free(g->key);
	free(g);
}

/* A member's subscription to the group. */
static const struct mqtt_sub *
shared_member_sub(const struct shared_group *g, const struct mqtt_session *s)
{
	size_t	i;

	for (i = 0; i < s->nsubs; i++)
		if (s->subs[i].len == g->key_len &&
		    memcmp(s->subs[i].filter, g->key, g->key_len) == 0)
			return &s->subs[i];
	return NULL;
}

static bool
shared_may_read(struct mqtt_broker *b, struct mqtt_session *s,
    const struct mqtt_msg *m)
{
	if (b->auth == NULL || !mqtt_auth_has_acl(b->auth))
		return true;
	return mqtt_auth_acl_check(b->auth, s->username, s->id,
	    (const char *)m->topic, MQTT_ACL_READ);
}

/*
 * The member to deliver to, round robin: the next connected one (other
 * than not, which is leaving), else the next that keeps a session.
 */
static struct mqtt_session *
shared_pick(struct mqtt_broker *b, struct shared_group *g,
    const struct mqtt_msg *m, const struct mqtt_session *not)
{
	struct mqtt_session	*s, *offline = NULL;
	size_t			 i, k;

	for (i = 0; i < g->n; i++) {
		k = (g->turn + i) % g->n;
		s = g->members[k];
		if (s == not || !shared_may_read(b, s, m))
			continue;
		if (broker_conn_is_active(s->conn)) {
			g->turn = k + 1;
			return s;
		}
		if (offline == NULL && !s->clean)
			offline = s;
	}
	return offline;
}

/* Deliver m to s as a member of g. */
static void
shared_give(struct shared_group *g, struct mqtt_session *s,
    struct mqtt_msg *m, uint8_t qos, bool retain)
{
	const struct mqtt_sub	*sub = shared_member_sub(g, s);
	struct mqtt_dopts	 d;
	uint8_t			 q = qos;

	memset(&d, 0, sizeof d);
	d.group = g->id;
	if (sub != NULL) {
		/* as deliver_qos(): the lower, or the subscription's */
		if (sub->qos < q || s->b->conf.upgrade_outgoing_qos)
			q = sub->qos;
		if (sub->subid != 0)
			d.subids[d.nsubids++] = sub->subid;
		if (!sub->rap)
			retain = false;
	}
	session_deliver(s, m, q, retain, false, &d);
}

void
shared_deliver(struct mqtt_broker *b, void *group, struct mqtt_msg *m)
{
	struct shared_group	*g = group;
	struct mqtt_session	*s = shared_pick(b, g, m, NULL);

	if (s != NULL)
		shared_give(g, s, m, m->qos, fh_event_retain(m->ev));
}

/*
 * Move the group's messages of q (s's queue, or its in-flight window) to
 * other members: every group's (gid 0), or gid's only; to connected
 * members only, or to offline persistent ones too.
 */
static void
shared_move(struct mqtt_session *s, struct mqtt_outq *q, bool inflight,
    uint32_t gid, bool connected_only)
{
	struct mqtt_broker	*b = s->b;
	struct shared_group	*g;
	struct mqtt_session	*to;
	struct mqtt_out		*o, *next;

	for (o = TAILQ_FIRST(q); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		/* a QoS 2 message past PUBREC has arrived; one whose
		 * PUBLISH went out is completed with this member or with
		 * nobody [MQTT-4.8.2-4, -5]: both stay */
		if (o->d.group == 0 || (gid != 0 && o->d.group != gid) ||
		    o->state != OUT_WAIT_ACK || (inflight && o->qos == 2) ||
		    (g = shared_find_id(b, o->d.group)) == NULL ||
		    (to = shared_pick(b, g, o->msg, s)) == NULL ||
		    (connected_only && !broker_conn_is_active(to->conn)))
			continue;
		TAILQ_REMOVE(q, o, entry);
		if (inflight) {
			s->ninflight--;
			s->inflight_bytes -= o->msg->payload_len <
			    s->inflight_bytes ? o->msg->payload_len :
			    s->inflight_bytes;
		} else
			s->nqueued--;
		limits_queue_account(s, 0, limits_msg_cost(o->msg));
		if (o->seq != 0) {
			mqtt_store_msg_ack(b->store, o->seq);
			b->st_writes++;
		}
		b->shared_resent++;
		shared_give(g, to, o->msg, o->qos, o->retain);
		msg_unref(o->msg);
		free(o);
	}
}

void
shared_conn_lost(struct mqtt_session *s)
{
	if (s->b->shared == NULL)
		return;
	shared_move(s, &s->inflight, true, 0, false);
	shared_move(s, &s->queue, false, 0, false);
}

/* s, a connected member of g, is there: g's messages that wait on
 * offline members go to connected ones (s first in turn or not). */
static void
shared_pull(struct shared_group *g, struct mqtt_session *s)
{
	struct mqtt_session	*t;
	size_t			 i;

	for (i = 0; i < g->n; i++) {
		t = g->members[i];
		if (t == s || t->conn != NULL)
			continue;
		if (TAILQ_EMPTY(&t->inflight) && TAILQ_EMPTY(&t->queue))
			continue;
		shared_move(t, &t->inflight, true, g->id, true);
		shared_move(t, &t->queue, false, g->id, true);
	}
}

/* s connected (its session resumed) or subscribed (after the SUBACK):
 * pull for each group it is in. */
void
shared_member_up(struct mqtt_session *s)
{
	struct mqtt_broker	*b = s->b;
	struct shared_group	*g;
	size_t			 i;

	if (b->shared == NULL || !broker_conn_is_active(s->conn))
		return;
	for (i = 0; i < s->nsubs; i++)
		if (s->subs[i].shared && (g = shared_find(b,
		    s->subs[i].filter, s->subs[i].len)) != NULL)
			shared_pull(g, s);
}
