/*
 * MQTT over WebSocket for the bridges' ws/wss links, client side (RFC
 * 6455): the upgrade request, the server's answer (a pure parser, fuzzed),
 * and a bufferevent filter that turns the link's MQTT bytes into masked
 * binary frames and the server's frames back into bytes. Frames use the
 * shared codec in lib/ws/ws_frame.h.
 */
#ifndef BRIDGE_WSCLIENT_H
#define BRIDGE_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;

#define WSCLIENT_KEY_LEN	24	/* base64 of 16 random bytes */
#define WSCLIENT_MAX_RESPONSE	8192	/* the upgrade answer's head */

/* The GET request (malloc'd); key[] gets the Sec-WebSocket-Key sent. */
char	*wsclient_request(const char *host, int port, const char *path,
	    char key[WSCLIENT_KEY_LEN + 1]);

/*
 * The server's answer to the request made with key: 1 when more bytes are
 * needed, 0 when it accepted (the head is *used bytes), -1 when it
 * refused or is not HTTP (why gets the reason, NUL-terminated).
 */
int	 wsclient_response(const uint8_t *buf, size_t len, const char *key,
	    size_t *used, char *why, size_t whylen);

/*
 * Wrap an upgraded connection; under belongs to the filter from here on
 * (freed with it). Server frames over max_frame bytes are an error. *err
 * points at why the filter failed ("" until it does), valid while the
 * returned bufferevent lives.
 */
struct bufferevent *wsclient_wrap(struct bufferevent *under,
	    uint64_t max_frame, const char **err);

#endif
