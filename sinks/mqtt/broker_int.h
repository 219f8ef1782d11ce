/*
 * The broker's private header: the structs its files share and what each
 * file offers the others. Only the broker's own files include it; the
 * rest of the daemon sees sinks/mqtt/broker.h.
 *
 * Where things are (one concern per file):
 *   broker.c           accept, read loop, dispatch, connection close and
 *                      free, create/start/stop, the shared write path
 *   handle_connect.c   CONNECT: identity, authentication, session, will
 *   handle_publish.c   a client's PUBLISH (and its QoS 2 receive state)
 *   handle_ack.c       PUBACK, PUBREC, PUBREL, PUBCOMP from a client
 *   handle_subscribe.c SUBSCRIBE and UNSUBSCRIBE
 *   handle_disconnect.c a client's DISCONNECT (5.0: reason, expiry)
 *   handle_replay.c    SUBSCRIBE to $replay/...: the event log replayed
 *   send_publish.c     PUBLISH to a client (each variant encoded once)
 *   send_ack.c         acks to a client, deferred until the store commits
 *   send_connack.c     CONNACK, and the broker's own 5.0 DISCONNECT
 *   deliver.c          routing: bus to subscribers, client to bus, ACLs
 *   shared.c           5.0 shared subscriptions ($share/GROUP/filter)
 *   msg.c              the refcounted message that is fanned out
 *   session.c          sessions: table, in-flight window, queue, expiry
 *   will.c             wills: from CONNECT, 5.0 will delay, publication
 *   limits.c           memory and queue limits, output accounting, trim
 *   persist.c          mirroring into the state store (store.c), restore
 *   sys.c              $SYS topics and the stats JSON
 *
 * Fan-out: a bus event becomes one refcounted mqtt_msg. Each (QoS,
 * retain) variant of its PUBLISH is encoded once, lazily, and added to
 * every subscriber's output by reference (evbuffer_add_reference); QoS 1/2
 * add only their two-byte packet id by copy. Matching allocates nothing.
 *
 * Parking: a plain TCP connection that has been idle through a whole
 * sweep (BROKER_PARK_MS) with nothing buffered gives up its bufferevent
 * and waits as a bare read event on its socket (park_ev), woken by its
 * client's next bytes, its keep alive deadline, or broker_out(). Awake
 * connections are at the head of b->conns, parked ones at the tail, so
 * a sweep looks only at the awake ones.
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
#ifndef MQTT_BROKER_INT_H
#define MQTT_BROKER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/util.h>

#include "sinks/mqtt/broker.h"
#include "lib/mqtt/packet.h"
#include "sinks/mqtt/store.h"
#include "sinks/mqtt/topic.h"

struct transport_parked;
struct transport_session;

struct bufferevent;
struct publish_alias;
struct shared_group;
struct evbuffer;
struct evbuffer_cb_entry;
struct evbuffer_cb_info;
struct fh_event;
struct fh_state;

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
	/* 5.0, the same when no per-client property is added */
	uint8_t		*pkt0_5[2];
	size_t		 pkt0_5_len[2];
	uint8_t		*head5[2][2];
	size_t		 head5_len[2][2];
};

/* 5.0: how one delivery to one session differs (send_publish.c). */
#define BROKER_SUBIDS_MAX	8
struct mqtt_dopts {
	uint32_t	 subids[BROKER_SUBIDS_MAX];	/* all that matched */
	uint8_t		 nsubids;
	uint32_t	 group;		/* shared subscription group id; 0 */
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
	struct mqtt_dopts	 d;		/* 5.0 */
};
TAILQ_HEAD(mqtt_outq, mqtt_out);

struct mqtt_sub {
	char		*filter;
	size_t		 len;
	uint8_t		 qos;
	/* 5.0 subscription options (handle_subscribe.c) */
	uint32_t	 subid;		/* 0: none */
	bool		 no_local;
	bool		 rap;		/* Retain As Published */
	bool		 shared;	/* $share/GROUP/filter */
};

/* A will: from CONNECT, published when the connection is lost. */
struct mqtt_will {
	char			*topic;
	uint8_t			*payload;
	size_t			 len;
	uint8_t			 qos;
	bool			 retain;
	/* 5.0: its PUBLISH properties (will delay and message expiry left
	 * out), delay and expiry (from publication) in s */
	uint8_t			*props;
	size_t			 plen;
	uint32_t		 delay;
	bool			 has_expiry;
	uint32_t		 expiry;
	uint8_t			 payload_format;
	/* delayed: waits in its session for the delay or the session end */
	char			*client_id;
	struct event		*ev;
};

/* session expiry interval, 5.0's "never" (0xFFFFFFFF s) */
#define SESSION_EXPIRY_NEVER	UINT32_MAX

/* One per client: pointers first, then counts and flags, no padding
 * holes (docs/performance.md, memory per idle connection). */
struct mqtt_session {
	struct topic_owner	 owner;		/* ctx = this session */
	struct mqtt_broker	*b;
	struct mqtt_session	*hnext;		/* hash chain */
	char			*id;
	char			*username;	/* NULL: anonymous */
	/* offline for longer than this (ms) it ends: 5.0 session expiry
	 * interval, or [broker] session_expiry for 3.1.1 persistent
	 * sessions; -1: kept */
	int64_t			 expiry_ms;
	struct mqtt_will	*will;		/* delayed will, offline only */
	struct mqtt_conn	*conn;		/* NULL while offline */
	struct timeval		 offline_since;
	struct mqtt_sub		*subs;
	struct mqtt_outq	 inflight;
	size_t			 inflight_bytes;	/* their payloads */
	struct mqtt_outq	 queue;
	size_t			 qbytes;	/* queued + in flight */
	uint64_t		 refused;	/* while full */
	uint16_t		*in_qos2;	/* ids waiting for PUBREL */
	/* subs and in_qos2 have room for the next power of two */
	uint32_t		 nsubs;
	uint32_t		 nsubopts;	/* with 5.0 options */
	uint32_t		 nin_qos2;
	int			 ninflight;
	int			 nqueued;
	uint16_t		 next_id;
	uint8_t			 level;		/* of its last CONNECT: stored,
						 * for expiry_ms at restore */
	bool			 clean : 1;	/* ends with its connection */
	bool			 full : 1;	/* refusing QoS 1/2 */
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
	/* threaded: bytes held until the turn's commit (broker_out) */
	struct evbuffer		*stage;
	struct evbuffer_cb_entry *stage_cb;	/* limits_out_cb */
	TAILQ_ENTRY(mqtt_conn)	 stage_entry;	/* b->staged */
	struct bufferevent	*bev;		/* NULL: parked */
	union {		/* never both: closing wakes it first */
		struct event	*park_ev;	/* parked: on its socket */
		struct event	*free_ev;	/* free_scheduled */
	};
	union {		/* ws over TCP (else NULL), by bev */
		struct transport_session *ts;	/* awake: bev's filter */
		struct transport_parked	 *tp;	/* parked */
	};
	int64_t			 read_ms;	/* last read, monotonic */
	struct mqtt_lstat	*lstat;
	char			*addr;
	char			*cert_cn;
	struct mqtt_session	*sess;
	struct evbuffer_cb_entry *out_cb;
	/* output, as counted: by its worker too when threaded */
	_Atomic size_t		 outlen;
	/* PUBACK/PUBREC waiting for a commit, in order: type << 16 | id */
	uint32_t		*acks;
	uint32_t		 acks_head, nacks, capacks;
	/* 5.0, from CONNECT (3.1.1: recv_max is the broker's window) */
	uint32_t		 max_packet_out; /* its Maximum Packet Size; 0 */
	uint32_t		 session_expiry; /* as CONNECT set it, s */
	uint16_t		 recv_max;	/* its Receive Maximum */
	uint16_t		 topic_alias_max_out;	/* its Topic Alias Max */
	uint16_t		 keepalive;
	uint8_t			 state;		/* enum conn_state */
	uint8_t			 level;
	bool			 problem_info;	/* reason strings wanted */
	bool			 response_info;
	bool			 abnormal;	/* send the will when freed */
	bool			 free_scheduled;
	bool			 authenticated;
	bool			 bridge;	/* CONNECT had the bridge bit */
	bool			 copy_small;	/* plain TCP: coalesce */
	bool			 threaded;	/* I/O on a worker loop */
	bool			 staged;	/* in b->staged */
	bool			 stirred;	/* traffic since the sweep */
	bool			 ka_short;	/* read timeout: what was left
						 * of the keep alive at wake */
	char			*client_id;	/* for logs after detach */
	struct mqtt_will	*will;		/* NULL: none */
	struct mqtt_replay	*replays;	/* $replay/ (handle_replay.c) */
	struct publish_alias	*alias;		/* 5.0 topic aliases */
};	/* 224 B: an allocator size class, keep it within */
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
	struct mqtt_store	*store;		/* its tables, with st */
	uint64_t		 st_writes;	/* staged by a publish */
	uint64_t		 acks_deferred, acks_failed;
	uint64_t		 restored_sessions, restored_msgs,
				 restored_retained, restored_expired,
				 restored_wills;
	struct topic_tree	*topics;
	struct mqtt_auth	*auth;
	struct mqtt_connq	 conns;
	struct mqtt_connq	 staged;	/* with bytes in their stage */
	struct event		*stage_ev;	/* flushes them */
	struct evbuffer		*stage_pool[64];	/* empty stages */
	size_t			 nstage_pool;
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
	/* counters; msgs_*: PUBLISH packets, pkts_*: every packet */
	uint64_t		 msgs_in, msgs_out, bytes_in, bytes_out;
	uint64_t		 pkts_in, pkts_out;
	struct mqtt_load	 load_pkts_in, load_pkts_out;
	uint64_t		 drop_qos0_slow, drop_queue_full;
	uint64_t		 drop_anonymous, drop_acl, drop_slow_disconnect;
	uint64_t		 err_malformed, err_too_large, err_protocol;
	/* their log lines: one per source address a minute */
	struct fh_log_limit	*err_log;
	uint64_t		 err_auth, refused_max_conns, keepalive_expired;
	uint64_t		 sys_msgs;
	/* subscriptions the last fan-out matched (SIZE_MAX: none ran) */
	size_t			 fanout_matched;
	uint64_t		 drop_too_large_out;	/* over a client's
							 * maximum packet size */
	uint64_t		 err_receive_max, disconnects_sent;
	uint64_t		 wills_delayed, wills_sent;
	/* 5.0 publish/subscribe */
	uint64_t		 drop_expired, drop_payload_format;
	uint64_t		 err_topic_alias, shared_resent;
	struct shared_group	*shared;	/* shared subscriptions */
	uint32_t		 shared_next_id;
	/* limits: max_queued_bytes, max_memory */
	size_t			 mem_queued;
	_Atomic size_t		 mem_out;	/* workers drain outputs */
	bool			 mem_over;
	size_t			 sessions_full;
	uint64_t		 drop_queue_bytes, drop_memory, drop_qos0_memory;
	uint64_t		 refused_memory;
	uint64_t		 refused_owner;	/* another user's session */
	struct event		*trim_ev;
	size_t			 trim_peak;	/* connections since a trim */
	struct event		*park_ev;	/* the sweep */
	size_t			 nparked;
	uint64_t		 parked_total, parked_woken;
	struct mqtt_load	 load_msgs_in, load_msgs_out, load_bytes_in,
				 load_bytes_out, load_conns;
	uint64_t		 conns_total;
};

/* Over max_memory, QoS 0 is dropped for a client with more than this
 * waiting to be written. */
#define BROKER_SLOW_BACKLOG	(64 * 1024)

/* broker.c: connections and the shared write path */
#define BROKER_PARK_MS		1000
bool	broker_conn_is_active(const struct mqtt_conn *);
/* c's read timeout: one and a half times its keep alive from now, or
 * with rest what is left of that since its last read. */
void	broker_keepalive(struct mqtt_conn *, bool rest);
void	broker_write(struct mqtt_conn *, const void *, size_t);
/* Where c's bytes go: its output or, when it is threaded (a worker
 * writes it at once), a stage moved there once the turn's store batch
 * has committed, as a main-loop socket is written only on a later turn:
 * nothing reaches a client before it is durable. */
struct evbuffer	*broker_out(struct mqtt_conn *);
/* What waits for c: its output and its stage. */
size_t	broker_outlen(struct mqtt_conn *);
void	broker_out_drain(struct mqtt_conn *);
void	broker_write_ref(struct mqtt_conn *, struct evbuffer *,
	    const void *, size_t, struct mqtt_msg *);
void	broker_conn_detach(struct mqtt_conn *);
void	broker_conn_close(struct mqtt_conn *, const char *why,
	    bool abnormal);
void	broker_conn_error(struct mqtt_conn *, int err, const char *what);
/* 5.0: a DISCONNECT with reason first (3.x: just close); why is logged
 * and, when the client asked for problem information, sent as reason
 * string. */
void	broker_conn_disconnect(struct mqtt_conn *, uint8_t reason,
	    const char *why, bool abnormal);
/* May a packet of len bytes go to c (its 5.0 Maximum Packet Size)? Not:
 * counted; the caller drops it for this client. */
bool	broker_conn_fits(struct mqtt_conn *, size_t len);
/* The in-flight window toward c's session: max_inflight_messages, and
 * for 5.0 no more than the client's Receive Maximum. */
int	broker_conn_window(const struct mqtt_conn *);
/* Server side of 5.0: what the CONNACK announces */
#define BROKER_SUBID_AVAILABLE		1
#define BROKER_SHARED_AVAILABLE		1

/* handle_*.c: one packet type from a client each */
void	handle_connect(struct mqtt_conn *, const struct mqtt_connect *);
void	handle_connect_refuse(struct mqtt_conn *, uint8_t rc,
	    const char *why);
void	handle_publish(struct mqtt_conn *, const struct mqtt_publish *);
void	handle_ack(struct mqtt_conn *, uint8_t type, uint16_t id,
	    uint8_t reason);
void	handle_subscribe(struct mqtt_conn *,
	    const struct mqtt_subscribe *);
void	handle_unsubscribe(struct mqtt_conn *,
	    const struct mqtt_subscribe *);

/* will.c */
struct mqtt_will *will_create(struct mqtt_conn *,
	    const struct mqtt_connect *);
void	will_free(struct mqtt_will *);
/* The connection is gone abnormally: publish now, or with a delay wait
 * in its session s (NULL: the session ended). Takes w. */
void	will_lost(struct mqtt_broker *, struct mqtt_will *,
	    struct mqtt_session *s);
/* A delayed will's session is taken up again (cancel) or ends (send). */
void	will_cancel(struct mqtt_session *);
void	will_session_end(struct mqtt_session *);

/* send_*.c: one packet type to a client each */
/* handle_disconnect.c: a client's DISCONNECT */
void	handle_disconnect(struct mqtt_conn *, const struct mqtt_ack *);

/* d: what differs for this delivery (5.0), NULL: nothing. false: not
 * sent, over the client's Maximum Packet Size (counted). */
bool	send_publish(struct mqtt_conn *, struct mqtt_msg *, uint8_t qos,
	    bool retain, bool dup, uint16_t id, const struct mqtt_dopts *d);
size_t	send_publish_size(struct mqtt_conn *, struct mqtt_msg *,
	    uint8_t qos, bool retain, const struct mqtt_dopts *d);
/* Past its Message Expiry Interval: never to be sent (counted by the
 * caller as dropped.expired). */
bool	send_publish_is_expired(struct mqtt_broker *,
	    const struct mqtt_msg *);
void	send_ack(struct mqtt_conn *, uint8_t type, uint16_t id);
/* 5.0 with a reason code (0, or a 3.1.1 client: the short form) */
void	send_ack_reason(struct mqtt_conn *, uint8_t type, uint16_t id,
	    uint8_t reason);
/* PUBACK/PUBREC of a client's PUBLISH, 5.0 with reason (0 in 3.1.1) */
void	send_ack_publish(struct mqtt_conn *, uint8_t type, uint16_t id,
	    uint8_t reason, bool staged);
void	send_connack(struct mqtt_conn *, bool sp, uint8_t rc);
/* 5.0 CONNACK: reason and the properties the broker announces */
void	send_connack5(struct mqtt_conn *, bool sp, uint8_t reason,
	    const char *assigned_id, uint16_t server_keepalive,
	    uint32_t session_expiry, const char *reason_string);
void	send_disconnect5(struct mqtt_conn *, uint8_t reason,
	    const char *reason_string);

/* deliver.c: routing */
struct deliver_retained_arg {
	struct mqtt_session	*s;
	uint8_t			 qos;
	uint32_t		 subid;		/* 5.0, 0: none */
	/* retained messages found expired: the caller clears them */
	struct mqtt_msg		**expired;
	size_t			 nexpired, capexpired;
};
void	deliver_retained_cb(void *msg, void *arg);
bool	deliver_may_write(struct mqtt_conn *, const char *topic);
void	deliver_emit(struct mqtt_broker *, const char *client_id,
	    const uint8_t *topic, size_t topic_len, const uint8_t *payload,
	    size_t len, uint8_t qos, bool retain);
struct fh_event *deliver_event(const char *client_id, const uint8_t *topic,
	    size_t topic_len, const uint8_t *payload, size_t len,
	    uint8_t qos, bool retain);
void	deliver_send(struct mqtt_broker *, struct fh_event *);

/* msg.c */
struct mqtt_msg	*msg_create(struct fh_event *);
struct mqtt_msg	*msg_ref(struct mqtt_msg *);
void		 msg_unref(struct mqtt_msg *);
void		 msg_release_cb(const void *, size_t, void *msg);
void		 msg_retain_free_cb(void *msg);

/* session.c */
struct mqtt_session	*session_find(struct mqtt_broker *, const char *id);
struct mqtt_session	*session_create(struct mqtt_broker *, const char *id);
void			 session_free(struct mqtt_session *);
struct mqtt_out		*session_inflight_find(struct mqtt_session *,
			    uint16_t id);
bool			 session_out_send(struct mqtt_session *,
			    struct mqtt_out *, bool dup);
void			 session_inflight_done(struct mqtt_session *,
			    struct mqtt_out *);
void			 session_pump(struct mqtt_session *);
void			 session_deliver(struct mqtt_session *,
			    struct mqtt_msg *, uint8_t qos, bool retain,
			    bool force, const struct mqtt_dopts *d);
struct mqtt_sub		*session_sub(struct mqtt_session *, const char *f,
			    size_t flen, uint8_t qos);
void			 session_expiry_cb(evutil_socket_t, short, void *b);
/* p with room for element n (capacity: the next power of two) */
void			*session_array_room(void *p, size_t n, size_t size);
/* Shrink the session table to what its sessions need. */
void			 session_table_fit(struct mqtt_broker *);
/* [broker] session_expiry as a session's expiry_ms (-1: never) */
int64_t			 session_default_expiry(const struct mqtt_broker *);

/* limits.c */
bool	limits_conn_over_hard_cap(struct mqtt_conn *);
size_t	limits_msg_cost(const struct mqtt_msg *);
size_t	limits_mem_used(const struct mqtt_broker *);
bool	limits_mem_over(struct mqtt_broker *);
void	limits_out_cb(struct evbuffer *, const struct evbuffer_cb_info *,
	    void *conn);
void	limits_queue_account(struct mqtt_session *, size_t add, size_t del);
void	limits_queue_check_room(struct mqtt_session *);
bool	limits_queue_admit(struct mqtt_session *, const struct mqtt_msg *);
void	limits_trim_check(struct mqtt_broker *);
/* A sweep parked n connections: their freed buffers go back soon. */
void	limits_trim_parked(struct mqtt_broker *, size_t n);
/* 5.0: one more QoS 1/2 PUBLISH from c would be over the Receive Maximum
 * the broker announced: c is disconnected (0x93), true returned. */
bool	limits_receive_max_exceeded(struct mqtt_conn *);

/* persist.c */
bool	persist_is_durable(const struct mqtt_session *);
void	persist_will(struct mqtt_session *, const struct mqtt_will *,
	    uint32_t delay);
void	persist_will_del(struct mqtt_session *);
/* A session's copy: persist_msg plus packet id, state, subscription ids */
void	persist_out(struct mqtt_broker *, struct mqtt_store_msg *,
	    const struct mqtt_out *);
void	persist_msg(struct mqtt_store_msg *, const struct mqtt_msg *,
	    uint8_t qos, bool retain);
void	persist_session(struct mqtt_session *, bool online);
void	persist_retain(struct mqtt_broker *, struct mqtt_msg *);
void	persist_restore(struct mqtt_broker *);

/* sys.c */
void	sys_tick_cb(evutil_socket_t, short, void *b);

/* handle_publish.c, send_publish.c: 5.0 */
void	publish_conn_close(struct mqtt_conn *);
void	publish_alias_set(struct mqtt_conn *, uint16_t alias,
	    const uint8_t *topic, size_t len);
const char *publish_alias_get(struct mqtt_conn *, uint16_t alias,
	    size_t *len);
/* handle_subscribe.c: a session's subscription into the tree (or its
 * shared group) and out again */
void	subscribe_attach(struct mqtt_session *, struct mqtt_sub *);
void	subscribe_detach(struct mqtt_session *, const struct mqtt_sub *);
/* Recount s->nsubopts after its subscriptions' options changed. */
void	subscribe_count_options(struct mqtt_session *);
/* shared.c: $share/GROUP/filter */
void	shared_join(struct mqtt_session *, const struct mqtt_sub *);
void	shared_leave(struct mqtt_session *, const struct mqtt_sub *);
void	shared_deliver(struct mqtt_broker *, void *group, struct mqtt_msg *);
/* s loses its connection, or its offline session ends: its unacknowledged
 * QoS 1/2 messages of shared subscriptions go to another member. */
void	shared_conn_lost(struct mqtt_session *);
/* s's connection is up (resumed) or it joined a group (after SUBACK):
 * it takes its groups' messages that wait on offline members. */
void	shared_member_up(struct mqtt_session *);
/* For the store: a group's key by id (NULL none), an id by key (0). */
const char *shared_group_key(struct mqtt_broker *, uint32_t id);
uint32_t shared_group_id(struct mqtt_broker *, const char *key);

/* handle_replay.c */
bool	replay_subscribe(struct mqtt_conn *, const char *filter, size_t len,
	    uint8_t qos, uint8_t *code);
bool	replay_unsubscribe(struct mqtt_conn *, const char *filter,
	    size_t len);
void	replay_kick(struct mqtt_conn *);
void	replay_conn_close(struct mqtt_conn *);

#endif
