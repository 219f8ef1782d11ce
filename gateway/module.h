/*
 * The module seam. A source turns upstream events into fh_events and calls
 * fh_gateway_emit(); a sink receives every emitted event through publish().
 * Neither knows the other. The registry is one static table in
 * gateway/modules.c.
 *
 * Lifecycle: create (alloc + defaults, cannot fail) -> configure (validate
 * everything; errors as "file:line: message" in *errstr) -> start (arm
 * events, never block) -> stop (idempotent) -> destroy (NULL-safe).
 * stop() then start() must work again.
 */
#ifndef FH_MODULE_H
#define FH_MODULE_H

#include <jansson.h>

struct fh_gateway;
struct fh_section;
struct fh_conf;
struct fh_event;
struct fh_conf_schema;

struct fh_source_ops {
	const char	*name;	/* the "type = " value in [source NAME] */
	void		*(*create)(struct fh_gateway *, const char *instance);
	int		 (*configure)(void *, const struct fh_section *,
			    char **errstr);
	int		 (*start)(void *);
	void		 (*stop)(void *);
	void		 (*destroy)(void *);
	/* Optional: counters for $SYS and /metrics, added to out. */
	void		 (*stats)(void *, json_t *out);
	/* Optional: SIGHUP. Re-read the files read at start (a token file,
	 * known_hosts) with the current settings; on error keep the old
	 * contents and say why in *errstr. */
	int		 (*reload)(void *, char **errstr);
	/* Optional: this module's part of the embedded default config
	 * (firehosed with no config file), or NULL. */
	const char	*default_conf;
	/* Optional: the [source NAME] keys for the man page (the table
	 * given to fh_conf_apply; "type" is added by the gateway). */
	const struct fh_conf_schema *schema;
};

struct fh_sink_ops {
	const char	*name;
	/* The config section types this sink owns, NULL-terminated
	 * ("broker", "listener"). The gateway owns [gateway] and
	 * [source NAME]; any other type no sink owns is an error before
	 * any module is configured. */
	const char *const *sections;
	/* Optional: this sink's part of the embedded default config. */
	const char	*default_conf;
	/* Optional: its sections' keys for the man page, one per section
	 * type, ending with { NULL }. */
	const struct fh_conf_schema *schema;
	void		*(*create)(struct fh_gateway *);
	/* Sinks read the sections they own from the whole file. */
	int		 (*configure)(void *, const struct fh_conf *,
			    char **errstr);
	int		 (*start)(void *);
	void		 (*stop)(void *);
	void		 (*destroy)(void *);
	/* Called for every event on the bus; takes its own ref to keep it.
	 * Returns 0 when accepted, -1 when refused (counted by the bus). */
	int		 (*publish)(void *, struct fh_event *);
	/* Optional: SIGHUP. Re-read what can change without dropping
	 * clients (passwords, ACL, certificates). */
	int		 (*reload)(void *, const struct fh_conf *, char **errstr);
	void		 (*stats)(void *, json_t *out);
};

/* The registry, NULL-terminated, in start order (stop runs in reverse). */
extern const struct fh_source_ops *const fh_sources[];
extern const struct fh_sink_ops *const fh_sinks[];

#endif
