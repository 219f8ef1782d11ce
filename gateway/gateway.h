/*
 * The gateway: config, the event loop, the module registry and the bus.
 * Modules see it only through this header.
 */
#ifndef FH_GATEWAY_H
#define FH_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct fh_event;
struct fh_conf;
struct fh_gateway;
struct fh_state;

/* Build a gateway from a parsed config: configure every module. */
struct fh_gateway	*fh_gateway_create(struct event_base *,
			    const struct fh_conf *, char **errstr);
int			 fh_gateway_start(struct fh_gateway *);
void			 fh_gateway_stop(struct fh_gateway *);
void			 fh_gateway_free(struct fh_gateway *);
/* SIGHUP: log level from [gateway], then each sink's reload(). */
int			 fh_gateway_reload(struct fh_gateway *,
			    const struct fh_conf *, char **errstr);

struct event_base	*fh_gateway_base(struct fh_gateway *);
/* "" when state is kept in memory only. */
const char		*fh_gateway_state_dir(struct fh_gateway *);
/* The durable store (gateway/state.h), in memory when state_dir is "".
 * Opened by fh_gateway_start() before any module starts, so modules use it
 * from start() on (NULL before); closed by fh_gateway_free() after every
 * module is destroyed. */
struct fh_state		*fh_gateway_state(struct fh_gateway *);
const char		*fh_gateway_user(struct fh_gateway *);

/*
 * The bus: hand an event to every sink. The bus assigns the sequence
 * number; the caller keeps its reference (unref it afterwards). Returns 0
 * when every sink accepted it, -1 when any refused it.
 */
int			 fh_gateway_emit(struct fh_gateway *, struct fh_event *);

/* {"bus": {...}, "sources": {NAME: {...}}, "sinks": {NAME: {...}}};
 * a new reference. */
json_t			*fh_gateway_stats(struct fh_gateway *);
/* Seconds since start. */
double			 fh_gateway_uptime(struct fh_gateway *);

/* [gateway]'s keys, for the man page. */
extern const struct fh_conf_schema fh_gateway_schema;

/* The embedded default config used when no file exists, assembled from
 * each module's default_conf; the caller frees it. */
char			*fh_gateway_default_config(void);

#endif
