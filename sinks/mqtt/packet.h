/*
 * The MQTT codec: pure functions over bytes, no I/O, no event_base.
 *
 * Decoding never allocates except for the filter arrays of SUBSCRIBE and
 * UNSUBSCRIBE (freed by mqtt_packet_clear()); strings point into the input
 * buffer, which must outlive the decoded packet.
 *
 * MQTT 3.1 ("MQIsdp", level 3) and 3.1.1 ("MQTT", level 4) are decoded
 * today. The structures carry a protocol level, raw property bytes and
 * reason codes so that MQTT 5 slots in without a change of shape.
 */
#ifndef MQTT_PACKET_H
#define MQTT_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK = 2,
	MQTT_PUBLISH = 3,
	MQTT_PUBACK = 4,
	MQTT_PUBREC = 5,
	MQTT_PUBREL = 6,
	MQTT_PUBCOMP = 7,
	MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9,
	MQTT_UNSUBSCRIBE = 10,
	MQTT_UNSUBACK = 11,
	MQTT_PINGREQ = 12,
	MQTT_PINGRESP = 13,
	MQTT_DISCONNECT = 14,
	MQTT_AUTH = 15,		/* MQTT 5 only; reserved in 3.1.1 */
};

#define MQTT_PROTO_31		3	/* "MQIsdp" */
#define MQTT_PROTO_311		4	/* "MQTT" */

/* CONNACK return codes (3.1.1 section 3.2.2.3). */
enum mqtt_connack_rc {
	MQTT_CONNACK_ACCEPTED = 0,
	MQTT_CONNACK_PROTOCOL = 1,	/* unacceptable protocol version */
	MQTT_CONNACK_IDENTIFIER = 2,	/* identifier rejected */
	MQTT_CONNACK_UNAVAILABLE = 3,	/* server unavailable */
	MQTT_CONNACK_CREDENTIALS = 4,	/* bad user name or password */
	MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

#define MQTT_SUBACK_FAILURE	0x80

/* Decoder errors: negative, like OpenSSH's ssherr.h. */
enum mqtt_err {
	MQTT_OK = 0,
	MQTT_E_MALFORMED = -1,		/* bad length, flags, encoding */
	MQTT_E_PROTOCOL = -2,		/* well-formed but not allowed */
	MQTT_E_VERSION = -3,		/* CONNECT: unknown protocol level */
	MQTT_E_TOO_LARGE = -4,		/* over the configured size */
	MQTT_E_UTF8 = -5,		/* invalid UTF-8 or U+0000 */
	MQTT_E_TOPIC = -6,		/* bad topic name or filter */
};

const char	*mqtt_strerror(int err);

/* A length-prefixed string or binary field, pointing into the input. */
struct mqtt_str {
	const uint8_t	*p;
	size_t		 len;
};

struct mqtt_fixed {
	uint8_t		 type;		/* enum mqtt_type */
	uint8_t		 flags;		/* low nibble */
	uint32_t	 remaining;	/* remaining length */
	uint8_t		 hdrlen;	/* bytes of fixed header, 2..5 */
};

struct mqtt_connect {
	struct mqtt_str	 proto_name;
	uint8_t		 level;		/* MQTT_PROTO_31, MQTT_PROTO_311 */
	bool		 clean;
	bool		 will;
	uint8_t		 will_qos;
	bool		 will_retain;
	bool		 has_username;
	bool		 has_password;
	uint16_t	 keepalive;
	struct mqtt_str	 client_id;
	struct mqtt_str	 will_topic;
	struct mqtt_str	 will_payload;
	struct mqtt_str	 username;
	struct mqtt_str	 password;
	struct mqtt_str	 props;		/* MQTT 5: raw property bytes */
};

struct mqtt_connack {
	bool		 session_present;
	uint8_t		 rc;		/* enum mqtt_connack_rc / v5 reason */
	struct mqtt_str	 props;
};

struct mqtt_publish {
	bool		 dup;
	uint8_t		 qos;
	bool		 retain;
	struct mqtt_str	 topic;
	uint16_t	 id;		/* 0 for QoS 0 */
	struct mqtt_str	 payload;
	struct mqtt_str	 props;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK. */
struct mqtt_ack {
	uint16_t	 id;
	uint8_t		 reason;	/* MQTT 5; 0 in 3.1.1 */
	struct mqtt_str	 props;
};

struct mqtt_topic_req {
	struct mqtt_str	 filter;
	uint8_t		 qos;		/* SUBSCRIBE: requested QoS */
	uint8_t		 options;	/* MQTT 5 subscription options */
};

/* SUBSCRIBE, UNSUBSCRIBE. */
struct mqtt_subscribe {
	uint16_t		 id;
	struct mqtt_topic_req	*topics;	/* allocated */
	size_t			 ntopics;
	struct mqtt_str		 props;
};

struct mqtt_suback {
	uint16_t	 id;
	const uint8_t	*codes;		/* return codes, into the input */
	size_t		 ncodes;
	struct mqtt_str	 props;
};

struct mqtt_packet {
	uint8_t		 type;
	uint8_t		 flags;
	union {
		struct mqtt_connect	connect;
		struct mqtt_connack	connack;
		struct mqtt_publish	publish;
		struct mqtt_ack		ack;
		struct mqtt_subscribe	subscribe;	/* and unsubscribe */
		struct mqtt_suback	suback;
	} u;
};

/*
 * Fixed header. Returns MQTT_OK with *fh filled, 1 when more bytes are
 * needed, or MQTT_E_MALFORMED (remaining length longer than 4 bytes).
 */
int	mqtt_fixed_parse(const uint8_t *buf, size_t len,
	    struct mqtt_fixed *fh);

/*
 * Decode one packet body. level is the session's protocol level (0 before
 * CONNECT: only CONNECT decodes then). Flags of every packet type are
 * checked. On error the packet needs no clearing.
 */
int	mqtt_packet_decode(uint8_t type, uint8_t flags, const uint8_t *body,
	    size_t len, int level, struct mqtt_packet *pkt);
void	mqtt_packet_clear(struct mqtt_packet *pkt);

/* Decode a whole packet (fixed header + body), as the fuzzer does. */
int	mqtt_decode(const uint8_t *buf, size_t len, int level,
	    struct mqtt_packet *pkt, size_t *used);

/* Strings: valid UTF-8, no U+0000 (3.1.1 section 1.5.3). */
bool	mqtt_string_is_valid(const uint8_t *s, size_t len);
/* A topic name for PUBLISH: 1..65535 bytes, no wildcards. */
bool	mqtt_topic_is_valid(const uint8_t *s, size_t len);
/* A topic filter: '+' a whole level, '#' only last and a whole level. */
bool	mqtt_filter_is_valid(const uint8_t *s, size_t len);

/*
 * Encoders write into out (cap bytes) and return the number of bytes the
 * packet takes; when that is more than cap nothing useful was written and
 * the caller retries with a larger buffer (snprintf's contract).
 */
size_t	mqtt_varint_encode(uint8_t *out, uint32_t v);	/* 1..4 bytes */
size_t	mqtt_encode_connect(uint8_t *out, size_t cap,
	    const struct mqtt_connect *);
size_t	mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present,
	    uint8_t rc);
/* Fixed header + topic (+ packet id when qos > 0), without the payload:
 * the payload follows it on the wire. */
size_t	mqtt_encode_publish_head(uint8_t *out, size_t cap, bool dup,
	    uint8_t qos, bool retain, const uint8_t *topic, size_t topic_len,
	    uint16_t id, size_t payload_len);
size_t	mqtt_encode_publish(uint8_t *out, size_t cap,
	    const struct mqtt_publish *);
/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK. */
size_t	mqtt_encode_ack(uint8_t *out, size_t cap, uint8_t type, uint16_t id);
size_t	mqtt_encode_subscribe(uint8_t *out, size_t cap, uint8_t type,
	    const struct mqtt_subscribe *);
size_t	mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t id,
	    const uint8_t *codes, size_t ncodes);
/* PINGREQ, PINGRESP, DISCONNECT. */
size_t	mqtt_encode_empty(uint8_t *out, size_t cap, uint8_t type);

#endif
