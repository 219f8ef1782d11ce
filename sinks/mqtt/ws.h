/*
 * A WebSocket connection after the upgrade: a bufferevent filter over the
 * socket (or TLS) bufferevent, so that the broker reads and writes plain
 * MQTT bytes. Incoming binary frames (any split, continuation frames, several
 * MQTT packets per frame) become a byte stream; outgoing bytes become binary
 * frames. Pings are answered, the close handshake is done here, and protocol
 * errors close with the right status code and show up to the broker as an
 * error event. When the broker frees its bufferevent, the session sends a
 * close frame, flushes and frees the socket by itself.
 */
#ifndef MQTT_WS_H
#define MQTT_WS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

struct bufferevent;
struct ws_session;

struct ws_counters {
	uint64_t	sessions;	/* upgraded, total */
	uint64_t	open;		/* now */
	uint64_t	frames_in;
	uint64_t	frames_out;
	uint64_t	bytes_in;	/* payload */
	uint64_t	bytes_out;
	uint64_t	pings;
	uint64_t	closes;		/* close frames from clients */
	uint64_t	err_protocol;	/* 1002 */
	uint64_t	err_unsupported;/* 1003: text frames */
	uint64_t	err_utf8;	/* 1007 */
	uint64_t	err_too_big;	/* 1009 */
};

/* The sessions of one listener, so that it can let go of them. */
struct ws_set {
	TAILQ_HEAD(, ws_session)	live;
	struct ws_counters		c;
	const char			*listener;
};

struct ws_opts {
	uint64_t	max_frame;	/* 0: no limit */
	uint64_t	max_message;
	/* No WebSocket at all, only the output coalescing and the
	 * flush-then-close: used for mqtts, where the broker's one chain
	 * per message would otherwise cost one TLS record and one write()
	 * per message. */
	bool		raw;
};

void			 ws_set_init(struct ws_set *, const char *listener);
/* The listener is going away: sessions the broker still holds free
 * their socket with their filter; closing ones are freed now. */
void			 ws_set_release(struct ws_set *);
void			 ws_set_stats(const struct ws_set *, json_t *out);

/*
 * Wrap an upgraded connection (the 101 already queued on under). Returns
 * the bufferevent to hand to the broker; under belongs to the session.
 */
struct bufferevent	*ws_wrap(struct ws_set *, struct bufferevent *under,
			    const struct ws_opts *, const char *peer);

#endif
