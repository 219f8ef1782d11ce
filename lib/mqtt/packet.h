/*
 * The MQTT codec: pure functions over bytes, no I/O, no event_base.
 *
 * Decoding never allocates except for the filter arrays of SUBSCRIBE and
 * UNSUBSCRIBE (freed by mqtt_packet_clear()); strings point into the input
 * buffer, which must outlive the decoded packet.
 *
 * MQTT 3.1 ("MQIsdp", level 3), 3.1.1 ("MQTT", level 4) and 5.0 ("MQTT",
 * level 5). In 5.0 every packet's properties are checked against the
 * OASIS table (2.2.2.2) and decoded into struct mqtt_props; the property
 * bytes stay available as props.raw so that a broker forwards them
 * unchanged. The encoders write property bytes as given (props.raw, or a
 * pointer and length): build them with mqtt_props_encode() from a struct,
 * mqtt_props_write() from a list, or mqtt_props_filter() from received
 * bytes.
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
#define MQTT_PROTO_5		5	/* "MQTT" */

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

/* MQTT 5.0 reason codes (section 2.4). */
enum mqtt_reason {
	MQTT_RC_SUCCESS = 0x00,		/* also normal disconnection, QoS 0 */
	MQTT_RC_GRANTED_QOS1 = 0x01,
	MQTT_RC_GRANTED_QOS2 = 0x02,
	MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
	MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	MQTT_RC_CONTINUE_AUTH = 0x18,
	MQTT_RC_REAUTHENTICATE = 0x19,
	MQTT_RC_UNSPECIFIED = 0x80,
	MQTT_RC_MALFORMED = 0x81,
	MQTT_RC_PROTOCOL_ERROR = 0x82,
	MQTT_RC_IMPLEMENTATION = 0x83,
	MQTT_RC_UNSUPPORTED_VERSION = 0x84,
	MQTT_RC_CLIENT_ID_INVALID = 0x85,
	MQTT_RC_BAD_CREDENTIALS = 0x86,
	MQTT_RC_NOT_AUTHORIZED = 0x87,
	MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	MQTT_RC_SERVER_BUSY = 0x89,
	MQTT_RC_BANNED = 0x8a,
	MQTT_RC_SHUTTING_DOWN = 0x8b,
	MQTT_RC_BAD_AUTH_METHOD = 0x8c,
	MQTT_RC_KEEPALIVE_TIMEOUT = 0x8d,
	MQTT_RC_SESSION_TAKEN_OVER = 0x8e,
	MQTT_RC_FILTER_INVALID = 0x8f,
	MQTT_RC_TOPIC_INVALID = 0x90,
	MQTT_RC_PACKET_ID_IN_USE = 0x91,
	MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
	MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
	MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
	MQTT_RC_PACKET_TOO_LARGE = 0x95,
	MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
	MQTT_RC_QUOTA_EXCEEDED = 0x97,
	MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
	MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9a,
	MQTT_RC_QOS_NOT_SUPPORTED = 0x9b,
	MQTT_RC_USE_ANOTHER_SERVER = 0x9c,
	MQTT_RC_SERVER_MOVED = 0x9d,
	MQTT_RC_SHARED_NOT_SUPPORTED = 0x9e,
	MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9f,
	MQTT_RC_MAXIMUM_CONNECT_TIME = 0xa0,
	MQTT_RC_SUBID_NOT_SUPPORTED = 0xa1,
	MQTT_RC_WILDCARD_NOT_SUPPORTED = 0xa2,
};

/* Is rc a reason code that packet type may carry (section 2.4)? */
bool	mqtt_reason_is_valid(uint8_t type, uint8_t rc);

/*
 * Decoder errors: negative, like OpenSSH's ssherr.h. Each one says what
 * was wrong; mqtt_err_reason() gives the 5.0 DISCONNECT reason it calls
 * for (0x81 malformed, 0x82 protocol error, ...).
 */
enum mqtt_err {
	MQTT_OK = 0,
	MQTT_E_MALFORMED = -1,		/* bad length, flags, encoding */
	MQTT_E_PROTOCOL = -2,		/* well-formed but not allowed */
	MQTT_E_VERSION = -3,		/* CONNECT: unknown protocol level */
	MQTT_E_TOO_LARGE = -4,		/* over the configured size */
	MQTT_E_UTF8 = -5,		/* invalid UTF-8 or U+0000 */
	MQTT_E_TOPIC = -6,		/* bad topic name */
	MQTT_E_FILTER = -7,		/* bad topic filter */
	MQTT_E_VARINT = -8,		/* bad variable byte integer */
	MQTT_E_PROP_LENGTH = -9,	/* property length past the packet */
	MQTT_E_PROP_UNKNOWN = -10,	/* unknown property identifier */
	MQTT_E_PROP_NOT_ALLOWED = -11,	/* property not for this packet */
	MQTT_E_PROP_DUPLICATE = -12,	/* property given twice */
	MQTT_E_PROP_VALUE = -13,	/* value not allowed (0, not 0/1) */
	MQTT_E_TOPIC_ALIAS = -14,	/* topic alias 0 */
	MQTT_E_REASON = -15,		/* reason code not for this packet */
	MQTT_E_SUBOPTS = -16,		/* reserved subscription option bits */
};

const char	*mqtt_strerror(int err);
/* The 5.0 reason code for a DISCONNECT caused by err (section 4.13). */
uint8_t		 mqtt_err_reason(int err);

/* A length-prefixed string or binary field, pointing into the input. */
struct mqtt_str {
	const uint8_t	*p;
	size_t		 len;
};

/* Property identifiers (section 2.2.2.2). */
enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT = 0x01,
	MQTT_PROP_MESSAGE_EXPIRY = 0x02,
	MQTT_PROP_CONTENT_TYPE = 0x03,
	MQTT_PROP_RESPONSE_TOPIC = 0x08,
	MQTT_PROP_CORRELATION_DATA = 0x09,
	MQTT_PROP_SUBSCRIPTION_ID = 0x0b,
	MQTT_PROP_SESSION_EXPIRY = 0x11,
	MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
	MQTT_PROP_SERVER_KEEPALIVE = 0x13,
	MQTT_PROP_AUTH_METHOD = 0x15,
	MQTT_PROP_AUTH_DATA = 0x16,
	MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
	MQTT_PROP_WILL_DELAY = 0x18,
	MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
	MQTT_PROP_RESPONSE_INFO = 0x1a,
	MQTT_PROP_SERVER_REFERENCE = 0x1c,
	MQTT_PROP_REASON_STRING = 0x1f,
	MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
	MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
	MQTT_PROP_TOPIC_ALIAS = 0x23,
	MQTT_PROP_MAXIMUM_QOS = 0x24,
	MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	MQTT_PROP_USER = 0x26,
	MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
	MQTT_PROP_WILDCARD_AVAILABLE = 0x28,
	MQTT_PROP_SUBID_AVAILABLE = 0x29,
	MQTT_PROP_SHARED_AVAILABLE = 0x2a,
};

#define MQTT_PROP_BIT(id)	((uint64_t)1 << (id))
/* The packet-type slot that stands for the will properties of CONNECT. */
#define MQTT_PROPS_WILL		0

/*
 * The properties of one packet, decoded. present has MQTT_PROP_BIT(id) set
 * for each property seen; a field is meaningful only when its bit is set.
 * Repeatable ones: user properties are counted here and read in order from
 * raw with mqtt_prop_next(); a PUBLISH to a client may carry several
 * subscription identifiers (subid is the first, nsubid how many).
 */
struct mqtt_props {
	uint64_t	 present;
	uint8_t		 payload_format;
	uint32_t	 message_expiry;
	struct mqtt_str	 content_type;
	struct mqtt_str	 response_topic;
	struct mqtt_str	 correlation_data;
	uint32_t	 subid;
	uint32_t	 nsubid;
	uint32_t	 session_expiry;
	struct mqtt_str	 assigned_client_id;
	uint16_t	 server_keepalive;
	struct mqtt_str	 auth_method;
	struct mqtt_str	 auth_data;
	uint8_t		 request_problem_info;
	uint32_t	 will_delay;
	uint8_t		 request_response_info;
	struct mqtt_str	 response_info;
	struct mqtt_str	 server_reference;
	struct mqtt_str	 reason_string;
	uint16_t	 receive_maximum;
	uint16_t	 topic_alias_maximum;
	uint16_t	 topic_alias;
	uint8_t		 maximum_qos;
	uint8_t		 retain_available;
	uint32_t	 maximum_packet_size;
	uint8_t		 wildcard_available;
	uint8_t		 subid_available;
	uint8_t		 shared_available;
	uint32_t	 nuser;
	struct mqtt_str	 raw;		/* the property bytes, no length */
};

static inline bool
mqtt_props_has(const struct mqtt_props *p, unsigned id)
{
	return (p->present & MQTT_PROP_BIT(id)) != 0;
}

/* One property, as read by mqtt_prop_next() or written by
 * mqtt_props_write(). */
struct mqtt_prop {
	uint8_t		 id;
	uint32_t	 num;	/* byte, two/four byte integer, varint */
	struct mqtt_str	 str;	/* string, binary data; user property name */
	struct mqtt_str	 val;	/* user property value */
};

/*
 * Check the property bytes (without their length) of a packet of type
 * ptype (MQTT_PROPS_WILL for will properties) and fill *out. out->raw
 * points at p. Returns MQTT_OK or a negative enum mqtt_err.
 */
int	mqtt_props_decode(const uint8_t *p, size_t len, int ptype,
	    struct mqtt_props *out);
/* The next property of checked raw bytes at *off: 1 with *prop filled,
 * 0 at the end, MQTT_E_PROP_LENGTH if raw is cut short. */
int	mqtt_prop_next(const struct mqtt_str *raw, size_t *off,
	    struct mqtt_prop *prop);
/* Next user property only (name in str, value in val): 1, or 0 at end. */
int	mqtt_prop_next_user(const struct mqtt_str *raw, size_t *off,
	    struct mqtt_prop *prop);

/*
 * Property encoders (snprintf's contract, like the packet encoders below):
 * the bytes go without the property length in front.
 * - mqtt_props_write: the n properties of list, in that order.
 * - mqtt_props_encode: every property whose bit is in p->present, from its
 *   field, in identifier order (one subscription identifier), then the
 *   user properties copied in order from p->raw (if any).
 * - mqtt_props_filter: raw with every property whose bit is in drop left
 *   out (a broker forwarding a PUBLISH drops topic alias and subscription
 *   identifiers, and writes message expiry anew).
 */
size_t	mqtt_props_write(uint8_t *out, size_t cap,
	    const struct mqtt_prop *list, size_t n);
size_t	mqtt_props_encode(uint8_t *out, size_t cap,
	    const struct mqtt_props *p);
size_t	mqtt_props_filter(uint8_t *out, size_t cap,
	    const struct mqtt_str *raw, uint64_t drop);
/* The name of a property, for logs and tests ("topic-alias"). */
const char	*mqtt_prop_name(unsigned id);

struct mqtt_fixed {
	uint8_t		 type;		/* enum mqtt_type */
	uint8_t		 flags;		/* low nibble */
	uint32_t	 remaining;	/* remaining length */
	uint8_t		 hdrlen;	/* bytes of fixed header, 2..5 */
};

struct mqtt_connect {
	struct mqtt_str	 proto_name;
	uint8_t		 level;		/* MQTT_PROTO_31, _311, _5 */
	bool		 bridge;	/* Mosquitto's bridge bit: the level
					 * byte sent as level | 0x80 */
	bool		 clean;		/* 5.0: clean start */
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
	struct mqtt_props props;	/* 5.0 */
	struct mqtt_props will_props;	/* 5.0, when will */
};

struct mqtt_connack {
	bool		 session_present;
	uint8_t		 rc;		/* enum mqtt_connack_rc / v5 reason */
	struct mqtt_props props;
};

struct mqtt_publish {
	bool		 dup;
	uint8_t		 qos;
	bool		 retain;
	struct mqtt_str	 topic;		/* 5.0: empty with a topic alias */
	uint16_t	 id;		/* 0 for QoS 0 */
	struct mqtt_str	 payload;
	struct mqtt_props props;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP; DISCONNECT and AUTH (id 0). */
struct mqtt_ack {
	uint16_t	 id;
	uint8_t		 reason;	/* MQTT 5; 0 in 3.1.1 */
	struct mqtt_props props;
};

/* Retain Handling (5.0 section 3.8.3.1). */
#define MQTT_RH_SEND		0	/* send retained on subscribe */
#define MQTT_RH_SEND_NEW	1	/* only if the subscription is new */
#define MQTT_RH_NONE		2	/* never */

struct mqtt_topic_req {
	struct mqtt_str	 filter;
	uint8_t		 qos;		/* SUBSCRIBE: requested QoS */
	bool		 no_local;	/* 5.0 subscription options */
	bool		 retain_as_published;
	uint8_t		 retain_handling;
};

/* SUBSCRIBE, UNSUBSCRIBE. */
struct mqtt_subscribe {
	uint16_t		 id;
	struct mqtt_topic_req	*topics;	/* allocated */
	size_t			 ntopics;
	struct mqtt_props	 props;
};

/* SUBACK, UNSUBACK (3.1.1 UNSUBACK: no codes). */
struct mqtt_suback {
	uint16_t	 id;
	const uint8_t	*codes;		/* return codes, into the input */
	size_t		 ncodes;
	struct mqtt_props props;
};

struct mqtt_packet {
	uint8_t		 type;
	uint8_t		 flags;
	union {
		struct mqtt_connect	connect;
		struct mqtt_connack	connack;
		struct mqtt_publish	publish;
		struct mqtt_ack		ack;	/* and DISCONNECT, AUTH */
		struct mqtt_subscribe	subscribe;	/* and unsubscribe */
		struct mqtt_suback	suback;		/* and unsuback */
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
 * checked. On error the packet needs no clearing. The checks are those of
 * the packet alone; what depends on the direction or the session (a
 * subscription identifier in a client's PUBLISH, a topic alias over the
 * maximum, AUTH without a method) is the caller's.
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
/* Does the (valid) filter, a C string, match the topic's tlen bytes?
 * Wildcards first never match a '$' topic; "a/#" matches "a". */
bool	mqtt_topic_matches(const char *filter, const char *topic,
	    size_t tlen);
/*
 * A shared subscription "$share/GROUP/filter" (5.0 section 4.8.2): true
 * 1 with the group name and filter set when s is one, -1 when s starts
 * with "$share/" but is not one (bad filter), 0 when it is not shared.
 */
int	mqtt_filter_shared(const uint8_t *s, size_t len,
	    struct mqtt_str *group, struct mqtt_str *filter);

/*
 * Encoders write into out (cap bytes) and return the number of bytes the
 * packet takes; when that is more than cap nothing useful was written and
 * the caller retries with a larger buffer (snprintf's contract). The 5.0
 * forms take the property bytes (without their length) as props/plen.
 */
size_t	mqtt_varint_encode(uint8_t *out, uint32_t v);	/* 1..4 bytes */
size_t	mqtt_varint_size(uint32_t v);

/* Any packet, at a protocol level (the properties from each props.raw). */
size_t	mqtt_encode(uint8_t *out, size_t cap, int level,
	    const struct mqtt_packet *pkt);

/* CONNECT at c->level; 5.0: c->props.raw and c->will_props.raw. */
size_t	mqtt_encode_connect(uint8_t *out, size_t cap,
	    const struct mqtt_connect *);
size_t	mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present,
	    uint8_t rc);
size_t	mqtt_encode_connack5(uint8_t *out, size_t cap, bool session_present,
	    uint8_t reason, const uint8_t *props, size_t plen);
/* Fixed header + topic (+ packet id when qos > 0), without the payload:
 * the payload follows it on the wire. */
size_t	mqtt_encode_publish_head(uint8_t *out, size_t cap, bool dup,
	    uint8_t qos, bool retain, const uint8_t *topic, size_t topic_len,
	    uint16_t id, size_t payload_len);
/* The same for 5.0, with the properties after the packet id. */
size_t	mqtt_encode_publish_head5(uint8_t *out, size_t cap, bool dup,
	    uint8_t qos, bool retain, const uint8_t *topic, size_t topic_len,
	    uint16_t id, const uint8_t *props, size_t plen,
	    size_t payload_len);
size_t	mqtt_encode_publish(uint8_t *out, size_t cap, int level,
	    const struct mqtt_publish *);
/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, 3.1.1. */
size_t	mqtt_encode_ack(uint8_t *out, size_t cap, uint8_t type, uint16_t id);
/* PUBACK, PUBREC, PUBREL, PUBCOMP, 5.0: reason and properties are left
 * out when they are 0 and none (section 3.4.2.1). */
size_t	mqtt_encode_ack5(uint8_t *out, size_t cap, uint8_t type, uint16_t id,
	    uint8_t reason, const uint8_t *props, size_t plen);
size_t	mqtt_encode_subscribe(uint8_t *out, size_t cap, int level,
	    uint8_t type, const struct mqtt_subscribe *);
size_t	mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t id,
	    const uint8_t *codes, size_t ncodes);
/* SUBACK or UNSUBACK, 5.0. */
size_t	mqtt_encode_suback5(uint8_t *out, size_t cap, uint8_t type,
	    uint16_t id, const uint8_t *props, size_t plen,
	    const uint8_t *codes, size_t ncodes);
/* PINGREQ, PINGRESP, DISCONNECT (3.1.1). */
size_t	mqtt_encode_empty(uint8_t *out, size_t cap, uint8_t type);
/* DISCONNECT or AUTH, 5.0: empty when reason 0 and no properties. */
size_t	mqtt_encode_reason(uint8_t *out, size_t cap, uint8_t type,
	    uint8_t reason, const uint8_t *props, size_t plen);

#endif
