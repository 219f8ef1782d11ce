/*
 * HTTP routes: any module serves HTTP on the ws/wss listeners through
 * this registry. The listeners (sinks/mqtt) parse the request head and
 * call fh_http_dispatch(); the gateway finds the route and runs its
 * handler, which answers at once (status, type, headers, body) or turns
 * the connection into a stream (Server-Sent Events) that it writes to
 * over time.
 *
 * Routing: an exact path ("/v1/events"), or a prefix when the path ends
 * in '*' ("/static/" + "*" matches "/static/" and everything below). Exact
 * routes win, then the longest prefix. HEAD is served wherever GET is
 * (the body is dropped). Request bodies are not read: GET and HEAD only.
 * Paths and query parameters are percent-decoded; a bad escape, a NUL or
 * invalid UTF-8 gets 400 before any handler runs.
 *
 * Limits: the listener's 10 s deadline covers reading the head and
 * flushing a plain answer; a stream has no deadline but a bounded output
 * (FH_HTTP_STREAM_MAX_DEFAULT unless set): a write that would pass the
 * bound is refused, and the handler decides (drop the reader, say why).
 */
#ifndef FH_HTTP_H
#define FH_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct bufferevent;
struct evbuffer;
struct fh_gateway;
struct fh_http_request;
struct fh_http_response;
struct fh_http_stream;

#define FH_HTTP_GET		0x1	/* and HEAD */
#define FH_HTTP_QUERY_MAX	128	/* parameters per request */
#define FH_HTTP_STREAM_MAX_DEFAULT	(1024 * 1024)
#define FH_HTTP_STREAMS_MAX	4096	/* open streams, whole daemon */

typedef void	(*fh_http_handler)(struct fh_http_request *,
		    struct fh_http_response *, void *arg);

/* Register (or replace) the handler of path. methods: FH_HTTP_GET.
 * Returns 0, -1 when path is not "/..." */
int		 fh_gateway_http_route(struct fh_gateway *, const char *path,
		    unsigned methods, fh_http_handler, void *arg);
/* Forget a route (a module's stop()); unknown paths are ignored. */
void		 fh_gateway_http_unroute(struct fh_gateway *, const char *path);

/* ---- the request: valid during the handler call only ---- */

/* "GET" or "HEAD". */
const char	*fh_http_method(const struct fh_http_request *);
/* The decoded path, without the query ("/v1/events"). */
const char	*fh_http_path(const struct fh_http_request *);
/* What a prefix route matched past its prefix ("app.js" for
 * "/static/app.js" on the "/static/" prefix); "" for exact routes. */
const char	*fh_http_subpath(const struct fh_http_request *);
/* The first value of a query parameter, NULL when absent; "" for "?a" or
 * "?a=". */
const char	*fh_http_query(const struct fh_http_request *,
		    const char *name);
/* Every parameter in order, repeated ones included: returns false past
 * the last. */
bool		 fh_http_query_at(const struct fh_http_request *, size_t i,
		    const char **name, const char **value);
size_t		 fh_http_query_count(const struct fh_http_request *);
/* The first header of that name (case-insensitive), NUL-terminated, or
 * NULL. */
const char	*fh_http_header(const struct fh_http_request *,
		    const char *name);
const char	*fh_http_listener(const struct fh_http_request *);
const char	*fh_http_peer(const struct fh_http_request *);	/* "ip:port" */

/* ---- a plain response ---- */

/* Add a response header (copied); Content-Type and Content-Length are
 * set by fh_http_reply() and friends. */
void		 fh_http_add_header(struct fh_http_response *,
		    const char *name, const char *value);
/* The whole answer. body is copied. */
void		 fh_http_reply(struct fh_http_response *, int status,
		    const char *content_type, const void *body, size_t len);
/* The body buffer, to append to; then fh_http_reply(r, status, type,
 * NULL, 0) sends what it holds. */
struct evbuffer	*fh_http_body(struct fh_http_response *);
/* A text/plain error: "<status> <reason>: <message>\n". */
void		 fh_http_error(struct fh_http_response *, int status,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* ---- a stream (Server-Sent Events and the like) ---- */

struct fh_http_stream_cbs {
	/* The peer closed or failed, or the gateway is stopping: the stream
	 * is freed right after this returns; forget the pointer. */
	void	(*gone)(struct fh_http_stream *, void *arg);
	/* Optional: the output fell below a quarter of the bound (write more
	 * backlog now). */
	void	(*drained)(struct fh_http_stream *, void *arg);
};

/*
 * Turn the answer into a stream: "200" with content_type, no length, and
 * the connection kept. Returns the stream, usable at once (writes are
 * sent when the handler returns) and until gone() or fh_http_stream_end().
 * On HEAD it returns NULL after queueing just the head.
 */
struct fh_http_stream *fh_http_stream_start(struct fh_http_response *,
		    const char *content_type,
		    const struct fh_http_stream_cbs *, void *arg);
/* Set the output bound (bytes not yet taken by the kernel). */
void		 fh_http_stream_set_max(struct fh_http_stream *, size_t max);
/* 0, or -1 (nothing written) when len would pass the bound (a write
 * into an empty output always goes: one item may be larger). */
int		 fh_http_stream_write(struct fh_http_stream *, const void *,
		    size_t len);
int		 fh_http_stream_printf(struct fh_http_stream *,
		    const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* Bytes queued, not yet sent. */
size_t		 fh_http_stream_pending(const struct fh_http_stream *);
/* Queue last (may be NULL; not bounded: keep it small), flush, close.
 * No callback runs after this; the pointer is dead. */
void		 fh_http_stream_end(struct fh_http_stream *, const void *last,
		    size_t len);
const char	*fh_http_stream_peer(const struct fh_http_stream *);

/* ---- for the listeners (sinks/mqtt) ---- */

struct fh_http_head {
	const char	*listener;
	const char	*peer;
	const char	*method;	/* these three point into the head: */
	size_t		 method_len;
	const char	*target;
	size_t		 target_len;
	size_t		 nheaders;
	const char	**names;	/* nheaders each */
	const size_t	*name_lens;
	const char	**values;
	const size_t	*value_lens;
};

/*
 * Route a request and queue the answer on bev's output. Returns the
 * status. When *taken is set on return the handler made a stream: bev now
 * belongs to the gateway (callbacks replaced; the caller forgets it);
 * otherwise the caller flushes bev and closes as before.
 */
int		 fh_http_dispatch(struct fh_gateway *,
		    const struct fh_http_head *, struct bufferevent *bev,
		    bool *taken);
/* Close every stream (gone() runs for each): fh_gateway_stop(). */
void		 fh_http_streams_close_all(struct fh_gateway *);

/* ---- pure parts (unit tested, fuzzed) ---- */

struct fh_http_params {
	size_t	  n;
	char	**names;	/* decoded, NUL-terminated */
	char	**values;
};

/*
 * Decode a query string ("a=1&b=x%20y&a=2", without the '?'): '+' is a
 * space, %XX a byte. Returns 0, or -1 with *why set on a bad escape, a
 * decoded NUL, invalid UTF-8 or more than FH_HTTP_QUERY_MAX parameters.
 * Empty pieces ("a=1&&b") are skipped.
 */
int		 fh_http_query_parse(const char *q, size_t len,
		    struct fh_http_params *, const char **why);
void		 fh_http_params_clear(struct fh_http_params *);
/* Percent-decode (no '+' rule) into a malloc'd string; NULL when bad. */
char		*fh_http_pct_decode(const char *s, size_t len, bool plus);
const char	*fh_http_status_text(int status);

/* Prometheus text for fh_gateway_stats(): every number becomes a
 * firehose_* sample; maps such as "sources", "listeners" and "drops" turn
 * their keys into labels. A malloc'd string. */
char		*fh_metrics_render(json_t *stats);

/* ---- for gateway.c ---- */

struct fh_http_registry;
struct fh_http_registry *fh_http_registry_new(struct fh_gateway *);
void		 fh_http_registry_free(struct fh_http_registry *);
/* {"requests", "bad_requests", "streams", ...} into out. */
void		 fh_http_registry_stats(const struct fh_http_registry *,
		    json_t *out);
/* /healthz and /metrics. */
void		 fh_http_register_builtin(struct fh_gateway *);
struct fh_http_registry *fh_gateway_http_registry(struct fh_gateway *);

#endif
