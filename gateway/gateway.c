#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/curl.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/http.h"
#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/module.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"

struct gateway_source {
	const struct fh_source_ops *ops;
	void			*self;
	char			*name;
	bool			 started;
};

struct gateway_sink {
	const struct fh_sink_ops *ops;
	void			*self;
	bool			 started;
};

struct gateway_conf {
	int	 log_level;	/* index in gateway_log_levels */
	char	*state_dir;
	int	 state_sync;	/* enum fh_state_sync */
	char	*user;
	bool	 syslog;
	int	 threads;	/* 0: one per CPU */
};

static const char *const gateway_log_names[] = {
	"error", "warning", "info", "debug", NULL
};
static const int gateway_log_levels[] = {
	LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG
};
/* In the order of enum fh_state_sync. */
static const char *const gateway_sync_names[] = { "normal", "full", NULL };

static const struct fh_conf_var gateway_vars[] = {
	FH_CONF_ENUM("log_level", struct gateway_conf, log_level,
	    gateway_log_names, "info",
	    "error, warning, info or debug (-v forces debug). Reloaded on "
	    "SIGHUP."),
	FH_CONF_STR("state_dir", struct gateway_conf, state_dir, "",
	    "Directory of the durable store (firehose.db): retained "
	    "messages, persistent sessions with their queued and "
	    "in-flight QoS 1/2 messages, source cursors. Empty: "
	    "everything is kept in memory only."),
	FH_CONF_ENUM("state_sync", struct gateway_conf, state_sync,
	    gateway_sync_names, "normal",
	    "normal: every acknowledged message survives the process "
	    "dying; full: also a power loss (an fsync per commit)."),
	FH_CONF_STR("user", struct gateway_conf, user, "",
	    "When started as root: once the listeners are bound (ports "
	    "below 1024 too), the store is open and the sources are "
	    "started, switch to this user for good (its groups, gid and "
	    "uid). state_dir is given to the user first. Files read again "
	    "on SIGHUP must be readable by it. Empty: stay as started."),
	FH_CONF_BOOL("syslog", struct gateway_conf, syslog, "false",
	    "Also log to syslog (facility daemon), not only to standard "
	    "error."),
	FH_CONF_INT_RANGE("threads", struct gateway_conf, threads, "0", 0,
	    256,
	    "Event loops, each on its own thread, that share the writing "
	    "(writev, TLS encryption, write timeouts) of mqtt and mqtts "
	    "connections. The broker, every read, the sources, the store "
	    "and WebSocket connections stay on the main loop. 0: one per "
	    "CPU core; 1: everything on the main loop. Read at start "
	    "only."),
	FH_CONF_END
};

const struct fh_conf_schema fh_gateway_schema = {
	"gateway", "The daemon itself: logging, the state store, the user "
	"it runs as.", gateway_vars
};

struct fh_gateway {
	struct event_base	*base;
	struct gateway_conf	 conf;
	struct gateway_source	*sources;
	size_t			 nsources;
	struct gateway_sink	*sinks;
	size_t			 nsinks;
	uint64_t		 seq;
	uint64_t		 emitted, refused;
	struct timespec		 started;
	int			 verbose;	/* -v given */
	struct fh_state		*state;	/* opened by fh_gateway_start */
	struct evdns_base	*dns;	/* on first use */
	struct fh_curl		*curl;	/* on first use */
	struct fh_http_registry	*http;
	const struct fh_reader_ops *readers;
	void			*readers_arg;
	const struct fh_replay_ops *replay;
	void			*replay_arg;
	struct fh_ioloops	*loops;	/* made by fh_gateway_start */
};

/*
 * The embedded default config: the gateway's own part, then each module's
 * default_conf in registry order, so that adding a module never touches
 * this file.
 */
char *
fh_gateway_default_config(void)
{
	static const char	 head[] =
	    "; firehosed's embedded default: used when no config file "
	    "exists.\n"
	    "[gateway]\n"
	    "log_level = info\n";
	char			*out = fh_xstrdup(head), *next;
	size_t			 i;

	for (i = 0; fh_sinks[i] != NULL; i++) {
		if (fh_sinks[i]->default_conf == NULL)
			continue;
		next = fh_xasprintf("%s%s", out, fh_sinks[i]->default_conf);
		free(out);
		out = next;
	}
	for (i = 0; fh_sources[i] != NULL; i++) {
		if (fh_sources[i]->default_conf == NULL)
			continue;
		next = fh_xasprintf("%s%s", out, fh_sources[i]->default_conf);
		free(out);
		out = next;
	}
	return out;
}

/* The sink that owns sections of this type, or NULL. */
static const struct fh_sink_ops *
gateway_section_owner(const char *type)
{
	size_t	i, j;

	for (i = 0; fh_sinks[i] != NULL; i++) {
		if (fh_sinks[i]->sections == NULL)
			continue;
		for (j = 0; fh_sinks[i]->sections[j] != NULL; j++)
			if (strcmp(fh_sinks[i]->sections[j], type) == 0)
				return fh_sinks[i];
	}
	return NULL;
}

/* Add err (taken; NULL: nothing) to *errs, one a line: firehosed -t
 * reports what every module finds, not only the first. */
static void
gateway_errs_add(char **errs, char *err)
{
	char	*all;

	if (err == NULL)
		return;
	if (*errs == NULL) {
		*errs = err;
		return;
	}
	all = fh_xasprintf("%s\n%s", *errs, err);
	free(*errs);
	free(err);
	*errs = all;
}

/* Every section is [gateway], [source NAME] or owned by a sink; checked
 * before any module is configured, so that a typo in a section type is
 * reported as such rather than as whatever a sink makes of it. Every
 * such section is reported. */
static int
gateway_check_sections(const struct fh_conf *conf, char **errstr)
{
	const struct fh_section	*sec;
	const char		*type;
	char			*errs = NULL, *err;

	for (sec = NULL; (sec = fh_conf_next(conf, sec, NULL)) != NULL;) {
		type = fh_section_type(sec);
		if (strcmp(type, "gateway") == 0 ||
		    strcmp(type, "source") == 0 ||
		    gateway_section_owner(type) != NULL)
			continue;
		fh_conf_error(&err, sec, NULL, "unknown section [%s%s%s]",
		    type, *fh_section_name(sec) ? " " : "",
		    fh_section_name(sec));
		gateway_errs_add(&errs, err);
	}
	if (errs == NULL)
		return 0;
	*errstr = errs;
	return -1;
}

static int
gateway_apply_conf(struct gateway_conf *gc, const struct fh_conf *conf,
    char **errstr)
{
	const struct fh_section	*sec = fh_conf_find(conf, "gateway");

	/* the defaults first, whatever is wrong: the modules checked after
	 * a bad [gateway] read them */
	if (fh_conf_apply(sec, gateway_vars, gc, errstr) != 0)
		return -1;
	if (sec != NULL && fh_section_name(sec)[0] != '\0')
		return fh_conf_error(errstr, sec, NULL,
		    "[gateway] takes no name");
	return 0;
}

static const struct fh_source_ops *
gateway_find_source(const char *type)
{
	size_t	i;

	for (i = 0; fh_sources[i] != NULL; i++)
		if (strcmp(fh_sources[i]->name, type) == 0)
			return fh_sources[i];
	return NULL;
}

struct fh_gateway *
fh_gateway_create(struct event_base *base, const struct fh_conf *conf,
    char **errstr)
{
	struct fh_gateway	*gw = fh_xcalloc(1, sizeof *gw);
	const struct fh_section	*sec;
	const struct fh_source_ops *ops;
	struct gateway_source	*src;
	const char		*type;
	char			*errs = NULL, *err;
	size_t			 i, n;

	gw->base = base;
	clock_gettime(CLOCK_MONOTONIC, &gw->started);
	gw->http = fh_http_registry_new(gw);
	fh_http_register_builtin(gw);
	/* On an error, go on with the next module (with its defaults where
	 * a value was bad): every module's first problem is reported. */
	err = NULL;
	if (gateway_check_sections(conf, &err) != 0)
		goto fail_sections;	/* the modules would only repeat it */
	if (gateway_apply_conf(&gw->conf, conf, &err) != 0)
		gateway_errs_add(&errs, err);
	/* -v (debug before any file is read) wins over the file, also on
	 * every reload. */
	gw->verbose = fh_log_get_level() >= LOG_DEBUG;
	if (!gw->verbose)
		fh_log_set_level(gateway_log_levels[gw->conf.log_level]);
	fh_log_set_syslog(gw->conf.syslog);

	for (n = 0; fh_sinks[n] != NULL; n++)
		;
	gw->sinks = fh_xcalloc(n, sizeof *gw->sinks);
	for (i = 0; i < n; i++) {
		gw->sinks[i].ops = fh_sinks[i];
		gw->sinks[i].self = fh_sinks[i]->create(gw);
		gw->nsinks++;
		err = NULL;
		if (fh_sinks[i]->configure(gw->sinks[i].self, conf,
		    &err) != 0)
			gateway_errs_add(&errs, err);
	}

	for (sec = NULL; (sec = fh_conf_next(conf, sec, "source")) != NULL;)
		gw->nsources++;
	gw->sources = fh_xcalloc(gw->nsources, sizeof *gw->sources);
	gw->nsources = 0;
	for (sec = NULL; (sec = fh_conf_next(conf, sec, "source")) != NULL;) {
		err = NULL;
		ops = NULL;
		type = fh_section_get(sec, "type");
		if (fh_section_name(sec)[0] == '\0')
			fh_conf_error(&err, sec, "type", "[source] needs a "
			    "name, as in [source gerrit]");
		else if (type == NULL)
			fh_conf_error(&err, sec, "type", "missing required "
			    "key 'type' in [source %s]", fh_section_name(sec));
		else if ((ops = gateway_find_source(type)) == NULL)
			fh_conf_error(&err, sec, "type", "unknown source "
			    "type '%s'", type);
		if (err != NULL) {
			gateway_errs_add(&errs, err);
			continue;
		}
		fh_section_claim(sec, "type");
		src = &gw->sources[gw->nsources++];
		src->ops = ops;
		src->name = fh_xstrdup(fh_section_name(sec));
		src->self = ops->create(gw, src->name);
		err = NULL;
		if (ops->configure(src->self, sec, &err) != 0)
			gateway_errs_add(&errs, err);
	}

	/* (after an error a module may not have looked at its sections) */
	if (errs == NULL && (sec = fh_conf_unclaimed(conf)) != NULL)
		fh_conf_error(&errs, sec, NULL, "unknown section [%s%s%s]",
		    fh_section_type(sec), *fh_section_name(sec) ? " " : "",
		    fh_section_name(sec));
	if (errs == NULL)
		return gw;
	*errstr = errs;
	fh_gateway_free(gw);
	return NULL;
fail_sections:
	*errstr = err;
	fh_gateway_free(gw);
	return NULL;
}

/*
 * The state store opens here rather than in fh_gateway_create(), so that
 * "firehosed -t" neither creates files nor trips over the lock a running
 * daemon holds. Modules reach it from their start() on.
 */
static int
gateway_open_state(struct fh_gateway *gw)
{
	char	*err = NULL;

	if (gw->state != NULL)
		return 0;	/* stop() + start() keeps it */
	gw->state = fh_state_open(gw->base, gw->conf.state_dir,
	    (enum fh_state_sync)gw->conf.state_sync, &err);
	if (gw->state == NULL) {
		fh_log(LOG_ERR, "state: %s", err);
		free(err);
		return -1;
	}
	return 0;
}

int
fh_gateway_start(struct fh_gateway *gw)
{
	char	*err = NULL;
	size_t	 i;
	int	 n = gw->conf.threads > 0 ? gw->conf.threads : fh_ioloop_ncpu();

	/* Before the listeners: they hand connections to the loops. */
	if ((gw->loops = fh_ioloops_start(gw->base, n, &err)) == NULL) {
		fh_log(LOG_ERR, "%s", err);
		free(err);
		return -1;
	}
	if (fh_ioloops_count(gw->loops) > 1)
		fh_log(LOG_INFO, "%d event loops (threads = %d)",
		    fh_ioloops_count(gw->loops), gw->conf.threads);
	if (gateway_open_state(gw) != 0)
		return -1;
	/* Sinks first, so that the first event a source emits has a home. */
	for (i = 0; i < gw->nsinks; i++) {
		if (gw->sinks[i].ops->start(gw->sinks[i].self) != 0)
			return -1;
		gw->sinks[i].started = true;
	}
	for (i = 0; i < gw->nsources; i++) {
		if (gw->sources[i].ops->start(gw->sources[i].self) != 0) {
			fh_log(LOG_ERR, "source %s (%s) failed to start",
			    gw->sources[i].name, gw->sources[i].ops->name);
			return -1;
		}
		gw->sources[i].started = true;
	}
	return 0;
}

void
fh_gateway_stop(struct fh_gateway *gw)
{
	size_t	i;

	/* Streams first: their owners are still running to hear gone(). */
	fh_http_streams_close_all(gw);
	for (i = gw->nsources; i-- > 0;) {
		if (gw->sources[i].started)
			gw->sources[i].ops->stop(gw->sources[i].self);
		gw->sources[i].started = false;
	}
	for (i = gw->nsinks; i-- > 0;) {
		if (gw->sinks[i].started)
			gw->sinks[i].ops->stop(gw->sinks[i].self);
		gw->sinks[i].started = false;
	}
}

void
fh_gateway_free(struct fh_gateway *gw)
{
	size_t	i;

	if (gw == NULL)
		return;
	fh_gateway_stop(gw);
	for (i = gw->nsources; i-- > 0;) {
		gw->sources[i].ops->destroy(gw->sources[i].self);
		free(gw->sources[i].name);
	}
	for (i = gw->nsinks; i-- > 0;)
		gw->sinks[i].ops->destroy(gw->sinks[i].self);
	free(gw->sources);
	free(gw->sinks);
	/* after the sinks: their connections are freed */
	fh_ioloops_stop(gw->loops);
	fh_state_close(gw->state);	/* after the modules: they may write */
	fh_curl_free(gw->curl);		/* after the modules: theirs are gone */
	if (gw->dns != NULL)
		evdns_base_free(gw->dns, 1);
	fh_http_registry_free(gw->http);
	fh_conf_clear(gateway_vars, &gw->conf);
	free(gw);
}

int
fh_gateway_reload(struct fh_gateway *gw, const struct fh_conf *conf,
    char **errstr)
{
	struct gateway_conf	gc;
	size_t			i;
	int			rc = 0;

	memset(&gc, 0, sizeof gc);
	if (gateway_apply_conf(&gc, conf, errstr) != 0) {
		fh_conf_clear(gateway_vars, &gc);
		return -1;
	}
	if (!gw->verbose)
		fh_log_set_level(gateway_log_levels[gc.log_level]);
	fh_log_set_syslog(gc.syslog);
	fh_conf_clear(gateway_vars, &gc);
	/* Each module that fails keeps what it had, and the others still
	 * reload: a broken password file must not keep a bridge or a
	 * source from taking its new files. The first error is returned,
	 * the others logged. Sources re-read their files with the
	 * settings they run with. */
	for (i = 0; i < gw->nsinks; i++) {
		char	*err = NULL;

		if (gw->sinks[i].ops->reload == NULL ||
		    gw->sinks[i].ops->reload(gw->sinks[i].self, conf,
		    &err) == 0)
			continue;
		if (rc == 0)
			*errstr = err;
		else {
			fh_log(LOG_ERR, "reload: %s", err);
			free(err);
		}
		rc = -1;
	}
	for (i = 0; i < gw->nsources; i++) {
		char	*err = NULL;

		if (gw->sources[i].ops->reload == NULL ||
		    gw->sources[i].ops->reload(gw->sources[i].self, &err) == 0)
			continue;
		if (rc == 0)
			*errstr = fh_xasprintf("source %s: %s",
			    gw->sources[i].name, err);
		else
			fh_log(LOG_ERR, "reload: source %s: %s",
			    gw->sources[i].name, err);
		free(err);
		rc = -1;
	}
	return rc;
}

struct fh_ioloops *
fh_gateway_ioloops(struct fh_gateway *gw)
{
	return gw->loops;
}

struct event_base *
fh_gateway_base(struct fh_gateway *gw)
{
	return gw->base;
}

struct evdns_base *
fh_gateway_dns(struct fh_gateway *gw)
{
	if (gw->dns != NULL)
		return gw->dns;
	/* resolv.conf's servers; without one (a bare container), numeric
	 * hosts and /etc/hosts still resolve. */
	gw->dns = evdns_base_new(gw->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (gw->dns == NULL)
		gw->dns = evdns_base_new(gw->base,
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (gw->dns == NULL)
		fh_fatal("evdns_base_new failed");
	return gw->dns;
}

struct fh_curl *
fh_gateway_curl(struct fh_gateway *gw)
{
	if (gw->curl == NULL)
		gw->curl = fh_curl_create(gw->base);
	return gw->curl;
}

const char *
fh_gateway_state_dir(struct fh_gateway *gw)
{
	return gw->conf.state_dir;
}

struct fh_state *
fh_gateway_state(struct fh_gateway *gw)
{
	return gw->state;
}

struct fh_http_registry *
fh_gateway_http_registry(struct fh_gateway *gw)
{
	return gw->http;
}

void
fh_gateway_set_readers(struct fh_gateway *gw, const struct fh_reader_ops *ops,
    void *arg)
{
	gw->readers = ops;
	gw->readers_arg = arg;
}

int
fh_gateway_reader_login(struct fh_gateway *gw, const char *user,
    const char *pw, size_t len)
{
	if (gw->readers == NULL)
		return user == NULL ? 0 : -1;
	return gw->readers->login(gw->readers_arg, user, pw, len);
}

bool
fh_gateway_may_read(struct fh_gateway *gw, const char *user,
    const char *topic)
{
	return gw->readers == NULL ||
	    gw->readers->may_read(gw->readers_arg, user, topic);
}

void
fh_gateway_set_replay(struct fh_gateway *gw, const struct fh_replay_ops *ops,
    void *arg)
{
	gw->replay = ops;
	gw->replay_arg = arg;
}

bool
fh_gateway_has_replay(struct fh_gateway *gw)
{
	return gw->replay != NULL;
}

void *
fh_gateway_replay_open(struct fh_gateway *gw, const char *topic,
    const char *user, const struct fh_replay_sink *sink, void *ctx,
    const char **why)
{
	if (gw->replay == NULL) {
		*why = "no event log";
		return NULL;
	}
	return gw->replay->open(gw->replay_arg, topic, user, sink, ctx, why);
}

void
fh_gateway_replay_close(struct fh_gateway *gw, void *handle)
{
	if (gw->replay != NULL && handle != NULL)
		gw->replay->close(handle);
}

void
fh_gateway_replay_resume(struct fh_gateway *gw, void *handle)
{
	if (gw->replay != NULL && handle != NULL)
		gw->replay->resume(handle);
}

const char *
fh_gateway_user(struct fh_gateway *gw)
{
	return gw->conf.user;
}

int
fh_gateway_emit(struct fh_gateway *gw, struct fh_event *ev)
{
	size_t	i;
	int	rc = 0;

	fh_event_set_seq(ev, ++gw->seq);
	gw->emitted++;
	for (i = 0; i < gw->nsinks; i++) {
		if (gw->sinks[i].ops->publish(gw->sinks[i].self, ev) != 0)
			rc = -1;
	}
	if (rc != 0)
		gw->refused++;
	return rc;
}

double
fh_gateway_uptime(struct fh_gateway *gw)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - gw->started.tv_sec) +
	    (now.tv_nsec - gw->started.tv_nsec) / 1e9;
}

json_t *
fh_gateway_stats(struct fh_gateway *gw)
{
	json_t	*out, *sources, *sinks, *o;
	size_t	 i;

	out = json_object();
	json_object_set_new(out, "bus", json_pack("{s:I,s:I}",
	    "events", (json_int_t)gw->emitted,
	    "refused", (json_int_t)gw->refused));
	sources = json_object();
	for (i = 0; i < gw->nsources; i++) {
		o = json_pack("{s:s}", "type", gw->sources[i].ops->name);
		if (gw->sources[i].ops->stats != NULL)
			gw->sources[i].ops->stats(gw->sources[i].self, o);
		json_object_set_new(sources, gw->sources[i].name, o);
	}
	json_object_set_new(out, "sources", sources);
	sinks = json_object();
	for (i = 0; i < gw->nsinks; i++) {
		o = json_object();
		if (gw->sinks[i].ops->stats != NULL)
			gw->sinks[i].ops->stats(gw->sinks[i].self, o);
		json_object_set_new(sinks, gw->sinks[i].ops->name, o);
	}
	json_object_set_new(out, "sinks", sinks);
	o = json_object();
	fh_http_registry_stats(gw->http, o);
	json_object_set_new(out, "http", o);
	o = json_object();
	fh_ioloops_stats(gw->loops, o);
	json_object_set_new(out, "loops", o);
	if (gw->state != NULL) {
		o = json_object();
		fh_state_stats(gw->state, o);
		json_object_set_new(out, "state", o);
	}
	return out;
}
