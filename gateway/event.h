/*
 * fh_event: what travels on the bus. A topic, a payload (a JSON object, or
 * raw bytes from an MQTT client), QoS, retain, the time it was made and the
 * bus sequence number. Refcounted and immutable once emitted: every sink
 * that keeps it takes its own reference.
 */
#ifndef FH_EVENT_H
#define FH_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct fh_event;

/* Steals the reference to payload (jansson's _new convention). */
struct fh_event	*fh_event_new(const char *topic, json_t *payload);
/* Copies len bytes of payload. */
struct fh_event	*fh_event_create_raw(const char *topic, const void *payload,
		    size_t len);
/* Adopts a malloc'd topic and payload without copying (the broker's path). */
struct fh_event	*fh_event_new_raw(char *topic, size_t topic_len,
		    uint8_t *payload, size_t len);

struct fh_event	*fh_event_ref(struct fh_event *);
void		 fh_event_unref(struct fh_event *);	/* NULL-safe */

void		 fh_event_set_qos(struct fh_event *, int qos);
void		 fh_event_set_retain(struct fh_event *, bool retain);
/* Who made it: a source name ("gerrit") or "mqtt:<client id>". */
void		 fh_event_set_origin(struct fh_event *, const char *origin);
void		 fh_event_set_seq(struct fh_event *, uint64_t seq);

const char	*fh_event_topic(const struct fh_event *);
size_t		 fh_event_topic_len(const struct fh_event *);
/* The payload bytes: JSON payloads are serialized once, compactly, with
 * their key order kept. */
const uint8_t	*fh_event_payload(struct fh_event *, size_t *len);
const json_t	*fh_event_json(const struct fh_event *);	/* NULL if raw */
int		 fh_event_qos(const struct fh_event *);
bool		 fh_event_retain(const struct fh_event *);
const char	*fh_event_origin(const struct fh_event *);
uint64_t	 fh_event_seq(const struct fh_event *);
/* Wall-clock creation time, microseconds since the epoch. */
int64_t		 fh_event_time_us(const struct fh_event *);

/*
 * MQTT 5 properties, opaque to the bus: the PUBLISH property bytes
 * (without their length) that travel with the message and are forwarded
 * unchanged. The broker keeps the per-hop ones out (topic alias,
 * subscription identifiers) and message expiry, which is the deadline
 * below. set_props copies len bytes (len 0: none); props returns NULL when
 * there are none.
 */
void		 fh_event_set_props(struct fh_event *, const void *props,
		    size_t len);
const uint8_t	*fh_event_props(const struct fh_event *, size_t *len);
/* Message expiry: wall-clock microseconds since the epoch; 0: never. */
void		 fh_event_set_expiry_us(struct fh_event *, int64_t at_us);
int64_t		 fh_event_expiry_us(const struct fh_event *);
bool		 fh_event_is_expired(const struct fh_event *, int64_t now_us);
/* Payload format indicator: 1 when the publisher said UTF-8 text. */
void		 fh_event_set_payload_format(struct fh_event *, uint8_t pfi);
uint8_t		 fh_event_payload_format(const struct fh_event *);

/* Topic name validity for publishing (no wildcards, no NUL, valid UTF-8,
 * 1..65535 bytes). */
bool		 fh_topic_is_valid(const char *topic, size_t len);
bool		 fh_utf8_is_valid(const uint8_t *s, size_t len);

#endif
