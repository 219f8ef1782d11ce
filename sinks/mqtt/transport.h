/*
 * The transport filter: a bufferevent filter over the socket (or TLS)
 * bufferevent, so that the broker reads and writes plain MQTT bytes, with
 * the broker's small writes coalesced into big writes (and TLS records),
 * and a flush-then-close when the broker lets go: the session then frees
 * the socket by itself.
 *
 * With WebSocket framing (ws, wss, after the HTTP upgrade): incoming binary
 * frames (any split, continuation frames, several MQTT packets per frame)
 * become a byte stream; outgoing bytes become binary frames. Pings are
 * answered, the close handshake is done here, and protocol errors close
 * with the right status code and show up to the broker as an error event.
 * With plain framing (mqtts) the bytes go through as they are.
 */
#ifndef MQTT_TRANSPORT_H
#define MQTT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/util.h>
#include <jansson.h>

struct bufferevent;
struct event_base;
struct transport_parked;
struct transport_session;

struct transport_counters {
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
struct transport_set {
	TAILQ_HEAD(, transport_session)	live;
	TAILQ_HEAD(, transport_parked)	parked;
	struct transport_counters		c;
	const char			*listener;
};

enum transport_framing {
	TRANSPORT_WEBSOCKET,	/* RFC 6455 binary frames */
	/* None: only the output coalescing and the flush-then-close. For
	 * mqtts, where the broker's one chain per message would otherwise
	 * cost one TLS record and one write() per message. */
	TRANSPORT_PLAIN,
};

struct transport_opts {
	enum transport_framing framing;
	uint64_t	max_frame;	/* websocket; 0: no limit */
	uint64_t	max_message;
	/* WebSocket over TCP: an idle session may park (below) */
	bool		may_park;
};

void			 transport_set_init(struct transport_set *,
			    const char *listener);
/* The listener is going away: sessions the broker still holds free
 * their socket with their filter; closing ones are freed now. */
void			 transport_set_release(struct transport_set *);
void			 transport_set_stats(const struct transport_set *,
			    json_t *out);

/*
 * Wrap a connection (for WebSocket: upgraded, the 101 already queued on
 * under). Returns the bufferevent to hand to the broker; under belongs to
 * the session.
 */
struct bufferevent	*transport_wrap(struct transport_set *,
			    struct bufferevent *under,
			    const struct transport_opts *, const char *peer,
			    struct transport_session **sp);

/*
 * Parking (sinks/mqtt/broker.c): an idle WebSocket connection over TCP
 * gives back both its bufferevents and its session, keeping only its
 * socket and a few bytes. It may when its opts said may_park, it is
 * between messages with nothing half read, nothing is buffered either
 * way and no close has begun. transport_park frees the filter (the
 * broker's bufferevent) and the socket's, without closing the socket;
 * transport_unpark makes them again for fd, on base, and frees p.
 * transport_parked_free is for a parked connection closed as it is.
 */
bool			 transport_parkable(const struct transport_session *);
struct transport_parked	*transport_park(struct transport_session *);
struct bufferevent	*transport_unpark(struct transport_parked *p,
			    struct event_base *base, evutil_socket_t fd,
			    const char *peer, struct transport_session **sp);
void			 transport_parked_free(struct transport_parked *);

#endif
