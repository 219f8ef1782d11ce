/*
 * The broker's durable tables: retained messages, persistent sessions with
 * their subscriptions, per-session queued and in-flight messages, and the
 * QoS 2 receive state. They live in the gateway's state file as module
 * "mqtt" (gateway/state.h, docs/durability.md), so that their writes join
 * the turn's one transaction: the broker stages a publish (msg_push for
 * each persistent session, retain_put) and sends PUBACK/PUBREC from an
 * fh_state_on_commit() callback, never before the batch is on disk.
 *
 * Every write returns 0, or -1 when its statement failed (logged once; the
 * whole batch then fails and its callbacks get -1). Strings are copied;
 * the caller keeps its buffers. Reads see the writes staged so far.
 */
#ifndef MQTT_STORE_H
#define MQTT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct fh_state;
struct mqtt_store;

/* Subscription identifiers kept per queued message (as many as the
 * broker sends: it has the same bound). */
#define MQTT_STORE_SUBIDS_MAX	8

/* Register the tables (creating or migrating them; a state file from the
 * first release already holds version 1 of them) and prepare the
 * statements. NULL and *errstr set when the file's tables are newer than
 * this code or unusable: the broker must not start on them. */
struct mqtt_store *mqtt_store_open(struct fh_state *, char **errstr);
/* Before fh_state_close(). NULL-safe. */
void		 mqtt_store_close(struct mqtt_store *);
struct fh_state	*mqtt_store_state(struct mqtt_store *);
/* {"bodies_shared"} into out. */
void		 mqtt_store_stats(const struct mqtt_store *, json_t *out);

/* ---- messages: retained, and queued/in-flight per session ---- */

enum mqtt_store_msg_state {
	MQTT_STORE_MSG_QUEUED = 0,	/* not sent yet (no packet id) */
	MQTT_STORE_MSG_SENT = 1,	/* PUBLISH sent, awaiting PUBACK or
					 * PUBREC */
	MQTT_STORE_MSG_RELEASED = 2,	/* QoS 2: PUBREC received, PUBREL
					 * sent, awaiting PUBCOMP */
};

struct mqtt_store_msg {
	int64_t		 seq;		/* store id, ascending = order; out */
	const char	*topic;
	const uint8_t	*payload;
	size_t		 payload_len;
	const uint8_t	*props;		/* opaque to the store (MQTT 5
					 * properties, encoded by the broker) */
	size_t		 props_len;
	uint8_t		 qos;
	bool		 retain;
	bool		 dup;
	uint16_t	 mid;		/* packet id, 0 while queued */
	enum mqtt_store_msg_state state;
	/* When the message expires, wall-clock microseconds since the epoch
	 * (fh_event_expiry_us: MQTT 5 message expiry interval added to its
	 * arrival), 0 never. Absolute, so that the time the daemon was down
	 * counts too. */
	int64_t		 expiry;
	uint8_t		 pfi;		/* MQTT 5 payload format indicator */
	/* msg_load: the body row. Equal ids are the same message fanned
	 * out, so the restore can share one copy as the broker did. */
	int64_t		 body;
	/* MQTT 5: the subscription identifiers this session's copy goes
	 * out with (msg_push, msg_load; more than the maximum are cut) */
	uint32_t	 subids[MQTT_STORE_SUBIDS_MAX];
	uint8_t		 nsubids;
	/* msg_push, msg_load: the shared subscription ("$share/GROUP/
	 * filter") this session's copy was given for, NULL none */
	const char	*share;
};

/* Retained: one message per topic; put replaces. */
int		 mqtt_store_retain_put(struct mqtt_store *,
		    const struct mqtt_store_msg *);
int		 mqtt_store_retain_del(struct mqtt_store *, const char *topic);
/* cb gets each retained message (topic, payload, props, qos, retain set);
 * pointers are valid during the call only. cb returns 0, or -1 to stop.
 * Returns 0, or -1 on a read error or when cb stopped. */
int		 mqtt_store_retain_load_all(struct mqtt_store *,
		    int (*cb)(const struct mqtt_store_msg *, void *),
		    void *arg);

/* ---- persistent sessions ---- */

struct mqtt_store_sub {
	const char	*filter;
	uint8_t		 options;	/* MQTT 5 subscription options byte:
					 * QoS in bits 0-1, NL, RAP, RH */
	uint32_t	 id;		/* MQTT 5 subscription identifier, 0
					 * none */
};

struct mqtt_store_session {
	const char	*client_id;
	uint16_t	 next_mid;	/* next packet id to use */
	uint32_t	 expiry;	/* session expiry interval, seconds;
					 * UINT32_MAX = never */
	int64_t		 disconnected;	/* unix time it went offline; 0 if
					 * connected */
	/* The authenticated user who owns the session, NULL anonymous: its
	 * ACL applies to what the session receives while offline, and only
	 * that user may resume it. */
	const char	*username;
	uint8_t		 level;		/* protocol level of the last CONNECT
					 * (3, 4, 5); 0 is taken as 4 */
	const struct mqtt_store_sub *subs;	/* load_all only */
	size_t		 nsubs;
};

/* Insert or update the session row (subs and nsubs are ignored). */
int		 mqtt_store_session_put(struct mqtt_store *,
		    const struct mqtt_store_session *);
/* Delete the session with its subscriptions, messages and QoS 2 state. */
int		 mqtt_store_session_del(struct mqtt_store *,
		    const char *client_id);
int		 mqtt_store_sub_put(struct mqtt_store *, const char *client_id,
		    const char *filter, uint8_t options, uint32_t sub_id);
int		 mqtt_store_sub_del(struct mqtt_store *, const char *client_id,
		    const char *filter);
/* Each session, subscriptions filled in (sorted by filter). */
int		 mqtt_store_session_load_all(struct mqtt_store *,
		    int (*cb)(const struct mqtt_store_session *, void *),
		    void *arg);

/* Append a message to a session's queue; m->seq is set. The seq, mid,
 * state and dup fields of m are used as given (QUEUED, 0, false for a new
 * message). Identical topic + payload + props pushed to several sessions
 * in a row are stored once. */
int		 mqtt_store_msg_push(struct mqtt_store *, const char *client_id,
		    struct mqtt_store_msg *m);
/* The message was sent (or released): record its packet id, state, dup. */
int		 mqtt_store_msg_update(struct mqtt_store *, int64_t seq,
		    uint16_t mid, enum mqtt_store_msg_state, bool dup);
/* PUBACK / PUBCOMP (or dropped by policy): forget the message. */
int		 mqtt_store_msg_ack(struct mqtt_store *, int64_t seq);
/* A session's messages in push order. */
int		 mqtt_store_msg_load(struct mqtt_store *, const char *client_id,
		    int (*cb)(const struct mqtt_store_msg *, void *),
		    void *arg);
/* Number of messages queued for a session, -1 on error. */
long		 mqtt_store_msg_count(struct mqtt_store *,
		    const char *client_id);

/* ---- QoS 2 receive state: packet ids PUBREC'd, awaiting PUBREL ---- */

int		 mqtt_store_qos2_put(struct mqtt_store *, const char *client_id,
		    uint16_t mid);
int		 mqtt_store_qos2_del(struct mqtt_store *, const char *client_id,
		    uint16_t mid);
/* Each packet id of the session, ascending. */
int		 mqtt_store_qos2_load(struct mqtt_store *,
		    const char *client_id, int (*cb)(uint16_t mid, void *),
		    void *arg);

/* ---- the delayed will of an offline 5.0 session ---- */

struct mqtt_store_will {
	const char	*client_id;
	const char	*topic;
	const uint8_t	*payload;
	size_t		 payload_len;
	const uint8_t	*props;		/* its PUBLISH properties, opaque */
	size_t		 props_len;
	uint8_t		 qos;
	bool		 retain;
	uint8_t		 pfi;
	int64_t		 expiry;	/* message expiry interval, s; -1
					 * none (it counts from publication) */
	int64_t		 due;		/* when it goes, unix microseconds */
};

/* One per session: put replaces; session_del deletes it too. */
int		 mqtt_store_will_put(struct mqtt_store *,
		    const struct mqtt_store_will *);
int		 mqtt_store_will_del(struct mqtt_store *, const char *client_id);
int		 mqtt_store_will_load_all(struct mqtt_store *,
		    int (*cb)(const struct mqtt_store_will *, void *),
		    void *arg);

#endif
