/*
 * HTTP/1.1 on the ws/wss listeners: a pure request-head parser and the
 * WebSocket upgrade check. Plain requests go to the gateway's route
 * registry (gateway/http.h), where /healthz, /metrics and every module's
 * pages live.
 */
#ifndef MQTT_HTTP_H
#define MQTT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct fh_gateway;

#define HTTP_HEAD_MAX		8192
#define HTTP_HEADERS_MAX	64

struct http_str {
	const char	*p;		/* into the parsed buffer, no NUL */
	size_t		 len;
};

struct http_header {
	struct http_str	name;
	struct http_str	value;		/* trimmed */
};

struct http_request {
	struct http_str		method;
	struct http_str		target;
	int			minor;	/* HTTP/1.minor */
	struct http_header	headers[HTTP_HEADERS_MAX];
	size_t			nheaders;
};

enum {
	HTTP_PARSE_MORE = 0,
	HTTP_PARSE_BAD = -1,
	HTTP_PARSE_TOO_LARGE = -2,
};

/*
 * Parse a request head. Returns its length including the blank line (> 0),
 * HTTP_PARSE_MORE when incomplete, HTTP_PARSE_BAD or HTTP_PARSE_TOO_LARGE
 * (more than HTTP_HEAD_MAX bytes or HTTP_HEADERS_MAX headers). The request
 * points into buf.
 */
int		 http_request_parse(const uint8_t *buf, size_t len,
		    struct http_request *);
/* The value of the first header of that name (case-insensitive). */
const struct http_str *http_header_get(const struct http_request *,
		    const char *name);
/* Does a comma-separated header contain token (case-insensitive)? */
bool		 http_header_has_token(const struct http_request *,
		    const char *name, const char *token);
bool		 http_str_eq(const struct http_str *, const char *);
bool		 http_str_caseeq(const struct http_str *, const char *);

/* What the WebSocket side of a listener accepts. */
struct http_ws_opts {
	const char	 *path;		/* "" accepts any path */
	char		**origins;	/* allow-list; NULL/empty: any */
	size_t		  norigins;
};

/*
 * Check an upgrade request against opts. Returns 0 and sets *resp to the
 * 101 response (malloc'd) and *subproto to the negotiated subprotocol
 * ("mqtt", "mqttv3.1" or NULL); or returns an HTTP status (400, 403, 404,
 * 426) with *why a static reason.
 */
int		 http_ws_upgrade(const struct http_request *,
		    const struct http_ws_opts *, char **resp,
		    const char **subproto, const char **why);
/* Is this request an attempt at a WebSocket upgrade? */
bool		 http_is_upgrade(const struct http_request *);

/* A status-only response (errors before or instead of routing). */
void		 http_respond_status(struct evbuffer *out, int status,
		    const char *why);

#endif
