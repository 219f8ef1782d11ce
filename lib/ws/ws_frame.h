/*
 * RFC 6455 WebSocket frames: a pure codec, no I/O.
 *
 * The decoder is a streaming state machine for the server side: it takes
 * client bytes in any split, enforces masking and the frame rules, unmasks
 * data into the caller's buffer and stops after every control frame so
 * that the caller can answer it. Protocol errors come back as the close
 * status code to send (1002, 1003, 1007, 1009).
 */
#ifndef MQTT_WS_FRAME_H
#define MQTT_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY	0x2
#define WS_OP_CLOSE	0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xa

#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_NO_STATUS	1005	/* never on the wire */
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011

#define WS_HEADER_MAX	14	/* 2 + 8 (length) + 4 (mask) */
#define WS_CONTROL_MAX	125

struct ws_frame_hdr {
	bool		fin;
	uint8_t		rsv;		/* the three RSV bits, >> 4 */
	uint8_t		opcode;
	bool		masked;
	uint8_t		mask[4];
	uint64_t	len;
};

/*
 * Parse one frame header. Returns its length (2..14), 0 when more bytes
 * are needed, or -1 when the length is not minimal-encoded or has its top
 * bit set (RFC 6455 5.2).
 */
int		ws_frame_parse_header(const uint8_t *, size_t,
		    struct ws_frame_hdr *);
/* Write a header into out[WS_HEADER_MAX]; mask NULL for server frames.
 * Returns its length. */
size_t		ws_frame_write_header(uint8_t *out, bool fin, uint8_t opcode,
		    uint64_t len, const uint8_t *mask);
/* XOR buf with the key, starting at payload offset off. */
void		ws_frame_mask(uint8_t *buf, size_t len, const uint8_t key[4],
		    uint64_t off);
/* A close payload: 0 when valid (code 1005 if empty), else the status to
 * answer with (1002 bad length/code, 1007 reason not UTF-8). */
int		ws_frame_close_parse(const uint8_t *, size_t, uint16_t *code);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: out gets 28 chars + NUL. */
void		ws_frame_accept_key(const char *key, size_t keylen,
		    char out[29]);

enum ws_event {
	WS_EV_NONE,	/* consumed input, maybe produced data */
	WS_EV_PING,	/* ctl/ctl_len: the ping payload */
	WS_EV_PONG,
	WS_EV_CLOSE,	/* close_code; ctl/ctl_len: the whole payload */
	WS_EV_ERROR,	/* close_code: the status to send; stop reading */
};

struct ws_decoder {
	/* Limits: 0 = none. */
	uint64_t		max_frame;
	uint64_t		max_message;
	/* State, the byte fields last: no padding (one per WebSocket
	 * connection). */
	struct ws_frame_hdr	cur;
	uint64_t		done;		/* payload bytes of cur seen */
	uint64_t		msg_len;
	uint8_t			hdr[WS_HEADER_MAX];
	uint8_t			hdr_len;	/* <= WS_HEADER_MAX */
	bool			in_frame;
	bool			in_message;	/* fragmented message open */
	uint8_t			msg_opcode;	/* its first opcode */
	bool			failed;
	uint8_t			ctl[WS_CONTROL_MAX];
};

struct ws_decoded {
	enum ws_event	ev;
	size_t		data_len;	/* unmasked payload bytes put in out */
	uint8_t		data_opcode;	/* WS_OP_TEXT or WS_OP_BINARY */
	const uint8_t	*ctl;		/* control payload (ping/pong/close) */
	size_t		ctl_len;
	uint16_t	close_code;
};

void		ws_decoder_init(struct ws_decoder *, uint64_t max_frame,
		    uint64_t max_message);
/*
 * Feed bytes. Consumes from in (returns how many), writes unmasked data
 * payload to out (at most outcap bytes) and reports at most one control
 * frame or error per call in *res. Call again while it consumes input or
 * reports an event. After WS_EV_ERROR it consumes nothing more.
 */
size_t		ws_decoder_feed(struct ws_decoder *, const uint8_t *in,
		    size_t len, uint8_t *out, size_t outcap,
		    struct ws_decoded *res);
/* Between messages, nothing half read, not failed: a decoder made anew
 * with the same limits would go on the same. */
bool		ws_decoder_idle(const struct ws_decoder *);

#endif
