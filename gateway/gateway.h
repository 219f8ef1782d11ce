/*
 * The gateway: config, the event loop, the module registry and the bus.
 * Modules see it only through this header.
 */
#ifndef FH_GATEWAY_H
#define FH_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct evdns_base;
struct fh_curl;
struct fh_event;
struct fh_conf;
struct fh_gateway;
struct fh_ioloops;
struct fh_state;

/* Build a gateway from a parsed config: configure every module. */
struct fh_gateway	*fh_gateway_create(struct event_base *,
			    const struct fh_conf *, char **errstr);
int			 fh_gateway_start(struct fh_gateway *);
void			 fh_gateway_stop(struct fh_gateway *);
void			 fh_gateway_free(struct fh_gateway *);
/* SIGHUP: log level from [gateway], then each sink's reload(), then each
 * source's (the files it read at start, read again). */
int			 fh_gateway_reload(struct fh_gateway *,
			    const struct fh_conf *, char **errstr);

struct event_base	*fh_gateway_base(struct fh_gateway *);
/* The I/O loops ([gateway] threads, gateway/ioloop.h): from
 * fh_gateway_start() on, NULL before. */
struct fh_ioloops	*fh_gateway_ioloops(struct fh_gateway *);
/* The daemon's one DNS resolver and one libcurl multi handle, made on
 * first use and freed by fh_gateway_free() after every module: a module
 * cancels its own lookups and transfers when it stops. */
struct evdns_base	*fh_gateway_dns(struct fh_gateway *);
struct fh_curl		*fh_gateway_curl(struct fh_gateway *);
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

/*
 * Who may read what, for the modules that hand events out other than by
 * MQTT (the event log's HTTP replay). The mqtt sink registers its
 * password file and ACL here; a sink cannot include another sink's
 * headers. Without a registration anonymous readers see everything.
 */
struct fh_reader_ops {
	/* May this user (NULL: anonymous) log in with this password (NULL
	 * for anonymous)? 0 yes, -1 no. */
	int	(*login)(void *arg, const char *user, const char *pw,
		    size_t len);
	/* May this user (NULL: anonymous) receive an event on topic? */
	bool	(*may_read)(void *arg, const char *user, const char *topic);
};
void			 fh_gateway_set_readers(struct fh_gateway *,
			    const struct fh_reader_ops *, void *arg);
int			 fh_gateway_reader_login(struct fh_gateway *,
			    const char *user, const char *pw, size_t len);
bool			 fh_gateway_may_read(struct fh_gateway *,
			    const char *user, const char *topic);

/*
 * Replay for MQTT clients: a subscription to "$replay/..." is handed to
 * the registered provider (the event log), which feeds the matching
 * logged events to that client through the sink the broker gives.
 */
struct fh_replay_sink {
	/* Send one event to the client on its own topic, at most at the
	 * granted QoS. 0 sent, 1 not for this client (its ACL), -1 the
	 * client is gone. */
	int	(*deliver)(void *ctx, struct fh_event *);
	/* Is the client full (pause)? Once it said true, the broker calls
	 * fh_gateway_replay_resume() when the client can take more (its
	 * output drained, acks came): the provider waits, it does not
	 * poll. */
	bool	(*busy)(void *ctx);
	/* The replay is over: the broker sends "$replay/done" with
	 * payload {"last_seq":N,...} (JSON, built by the provider). */
	void	(*done)(void *ctx, const char *payload, size_t len);
};
struct fh_replay_ops {
	/* topic is the whole "$replay/..." filter. A handle, or NULL with
	 * *why (a bad form: the broker refuses that subscription). */
	void	*(*open)(void *arg, const char *topic, const char *user,
		    const struct fh_replay_sink *, void *ctx,
		    const char **why);
	/* The client went away or unsubscribed; the handle dies. */
	void	 (*close)(void *handle);
	/* A paused replay may go on (soon, from the loop; never at once). */
	void	 (*resume)(void *handle);
};
void			 fh_gateway_set_replay(struct fh_gateway *,
			    const struct fh_replay_ops *, void *arg);
/* NULL when no provider is registered (the broker then treats $replay/
 * as a plain topic filter). */
void			*fh_gateway_replay_open(struct fh_gateway *,
			    const char *topic, const char *user,
			    const struct fh_replay_sink *, void *ctx,
			    const char **why);
void			 fh_gateway_replay_close(struct fh_gateway *,
			    void *handle);
void			 fh_gateway_replay_resume(struct fh_gateway *,
			    void *handle);
bool			 fh_gateway_has_replay(struct fh_gateway *);

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
