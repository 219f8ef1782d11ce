/*
 * The subunit source: a Gearman worker on the event loop.
 *
 * For each gearmand in `gearman` it keeps `concurrency` connections, each
 * holding at most one job; a shared credit keeps the jobs in flight (and
 * grabs outstanding) at or below `concurrency`. Per connection:
 *
 *   DOWN -> CONNECTING -> (SET_CLIENT_ID, CAN_DO) IDLE
 *   IDLE --credit--> GRAB_JOB_UNIQ -> GRAB_WAIT
 *   GRAB_WAIT --NO_JOB--> PRE_SLEEP -> SLEEP --NOOP--> IDLE
 *   GRAB_WAIT --JOB_ASSIGN(_UNIQ)--> BUSY --result--> IDLE
 *
 * A job fetches source_url + ".gz" (then source_url on a 4xx) with libcurl,
 * inflates gzip itself when the body is gzip, streams the bytes into the
 * subunit parser, publishes one event and only then answers the job with
 * exactly one WORK_COMPLETE (success, aborted) or WORK_FAIL (failed, bad
 * job, refused by the bus). A lost connection abandons its job unanswered:
 * gearmand gives it to another worker.
 */
#include "sources/subunit/subunit_int.h"

static const struct fh_conf_var subunit_vars[] = {
	FH_CONF_STR_REQ("gearman", struct subunit, gearman,
	    "Gearman servers: host:port (port 4730 by default), "
	    "comma-separated."),
	FH_CONF_STR("function", struct subunit, function, "push-subunit",
	    "The Gearman function to register."),
	FH_CONF_STR("worker_id", struct subunit, worker_id, "",
	    "SET_CLIENT_ID; empty: HOSTNAME-pusher."),
	FH_CONF_INT_RANGE("concurrency", struct subunit, concurrency, "4", 1,
	    256, "Jobs in flight."),
	FH_CONF_DURATION("fetch_timeout", struct subunit, fetch_timeout, "60s",
	    "Time limit of each HTTP request."),
	FH_CONF_SIZE("max_stream_size", struct subunit, max_stream_size,
	    "256M",
	    "Decoded subunit bytes per job; more fails the job."),
	FH_CONF_STR("ca_file", struct subunit, ca_file, "",
	    "CA bundle for https source URLs."),
	FH_CONF_STR("topic", struct subunit, topic, "gearman-subunit",
	    "Base topic of the test-run events."),
	FH_CONF_QOS("qos", struct subunit, qos, "0",
	    "QoS of the events."),
	FH_CONF_BOOL("retain", struct subunit, retain, "false",
	    "Publish the events retained."),
	FH_CONF_END
};

static const struct fh_conf_schema subunit_schema = {
	.section = "source NAME",
	.doc =
	    "type = subunit: a Gearman worker that fetches subunit streams "
	    "of test runs (docs/sources/subunit.md).",
	.vars = subunit_vars,
};

/* ---- lifecycle and config ---------------------------------------------- */

static void *
subunit_create(struct fh_gateway *gw, const char *instance)
{
	struct subunit	*su = fh_xcalloc(1, sizeof *su);
	char		 host[256];

	su->gw = gw;
	su->instance = fh_xstrdup(instance);
	if (gethostname(host, sizeof host) != 0)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	su->host = fh_xstrndup(host, strcspn(host, "."));
	return su;
}

static void
subunit_free_servers(struct subunit *su)
{
	size_t	i;

	for (i = 0; i < su->nservers; i++) {
		free(su->servers[i].host);
		free(su->servers[i].name);
	}
	free(su->servers);
	su->servers = NULL;
	su->nservers = 0;
	free(su->conns);
	su->conns = NULL;
	su->nconns = 0;
}

/* "host:port, host, [v6]:port" -> servers; the port defaults to 4730. */
static int
subunit_parse_servers(struct subunit *su, const char *list, char **why)
{
	char	*copy = fh_xstrdup(list), *item, *save = NULL, *host, *end;
	char	*spec;
	int	 port;
	size_t	 n;

	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item += strspn(item, " \t");
		for (end = item + strlen(item); end > item &&
		    (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		if (*item == '\0')
			continue;
		n = strlen(item);
		if (strchr(item, ':') == NULL ||
		    (item[0] == '[' && item[n - 1] == ']'))
			spec = fh_xasprintf("%s:%d", item, SUBUNIT_DEFAULT_PORT);
		else
			spec = fh_xstrdup(item);
		host = NULL;
		if (fh_parse_hostport(spec, &host, &port) != 0 ||
		    host[0] == '\0' || port == 0) {
			free(host);
			*why = fh_xasprintf("bad gearman server '%s' "
			    "(want host:port)", item);
			free(spec);
			free(copy);
			return -1;
		}
		free(spec);
		su->servers = fh_xrealloc(su->servers,
		    (su->nservers + 1) * sizeof *su->servers);
		memset(&su->servers[su->nservers], 0, sizeof *su->servers);
		su->servers[su->nservers].host = host;
		su->servers[su->nservers].port = port;
		su->servers[su->nservers].name = strchr(host, ':') != NULL ?
		    fh_xasprintf("[%s]:%d", host, port) :
		    fh_xasprintf("%s:%d", host, port);
		su->nservers++;
	}
	free(copy);
	if (su->nservers == 0) {
		*why = fh_xstrdup("no gearman server given");
		return -1;
	}
	return 0;
}

static int
subunit_configure(void *self, const struct fh_section *sec, char **errstr)
{
	struct subunit	*su = self;
	char		*why = NULL;
	const char	*key = NULL;
	size_t		 i;

	if (fh_conf_apply(sec, subunit_vars, su, errstr) != 0)
		return -1;
	subunit_free_servers(su);
	if (subunit_parse_servers(su, su->gearman, &why) != 0)
		key = "gearman";
	else if (su->function[0] == '\0' || strlen(su->function) > 255) {
		key = "function";
		why = fh_xstrdup("function must be 1..255 bytes");
	} else if (su->fetch_timeout <= 0) {
		key = "fetch_timeout";
		why = fh_xstrdup("fetch_timeout must be more than 0");
	} else if (su->max_stream_size == 0) {
		key = "max_stream_size";
		why = fh_xstrdup("max_stream_size must be more than 0");
	} else if (!fh_topic_is_valid(su->topic, strlen(su->topic)) ||
	    strpbrk(su->topic, "+#") != NULL) {
		key = "topic";
		why = fh_xasprintf("bad topic '%s'", su->topic);
	} else if (su->ca_file[0] != '\0' && access(su->ca_file, R_OK) != 0) {
		key = "ca_file";
		why = fh_xasprintf("cannot read ca_file '%s': %s",
		    su->ca_file, strerror(errno));
	}
	if (key != NULL) {
		fh_conf_error(errstr, sec, key, "%s", why);
		free(why);
		return -1;
	}
	if (su->worker_id[0] == '\0') {
		char	host[256];

		if (gethostname(host, sizeof host) != 0)
			strcpy(host, "localhost");
		host[sizeof host - 1] = '\0';
		free(su->worker_id);
		su->worker_id = fh_xasprintf("%s-pusher", host);
	}
	su->nconns = su->nservers * (size_t)su->concurrency;
	su->conns = fh_xcalloc(su->nconns, sizeof *su->conns);
	for (i = 0; i < su->nconns; i++) {
		su->conns[i].su = su;
		su->conns[i].srv = &su->servers[i % su->nservers];
		fh_backoff_init(&su->conns[i].backoff, SUBUNIT_BACKOFF_MIN,
		    SUBUNIT_BACKOFF_MAX);
	}
	return 0;
}

static void
subunit_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct subunit	*su = arg;
	size_t		 i, k;

	(void)fd;
	(void)what;
	/* Offer free credit to idle connections, starting after the last
	 * one served so that every server gets its turn. */
	for (i = 0; i < su->nconns && su->busy < su->concurrency; i++) {
		k = (su->next_kick + i) % su->nconns;
		if (su->conns[k].state == SUBUNIT_C_IDLE) {
			subunit_conn_try_grab(&su->conns[k]);
			su->next_kick = k + 1;
		}
	}
}

void
subunit_kick(struct subunit *su)
{
	if (su->kick != NULL && su->running)
		event_active(su->kick, EV_TIMEOUT, 0);
}

static void
subunit_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	subunit_conn_connect(arg);
}

static int
subunit_start(void *self)
{
	struct subunit	*su = self;
	size_t		 i;

	su->base = fh_gateway_base(su->gw);
	su->curl = fh_gateway_curl(su->gw);
	su->kick = event_new(su->base, -1, 0, subunit_kick_cb, su);
	su->running = true;
	su->busy = 0;
	for (i = 0; i < su->nservers; i++) {
		su->servers[i].nup = 0;
		su->servers[i].logged = SUBUNIT_L_UNKNOWN;
	}
	for (i = 0; i < su->nconns; i++) {
		su->conns[i].retry = evtimer_new(su->base, subunit_retry_cb,
		    &su->conns[i]);
		su->conns[i].state = SUBUNIT_C_DOWN;
		fh_backoff_reset(&su->conns[i].backoff);
		subunit_conn_connect(&su->conns[i]);
	}
	fh_log(LOG_INFO, "subunit %s: worker %s for '%s' on %s, %d jobs at "
	    "a time", su->instance, su->worker_id, su->function, su->gearman,
	    su->concurrency);
	return 0;
}

static void
subunit_stop(void *self)
{
	struct subunit		*su = self;
	struct subunit_conn	*c;
	size_t			 i;

	if (!su->running)
		return;
	su->running = false;
	for (i = 0; i < su->nconns; i++) {
		c = &su->conns[i];
		if (c->job != NULL) {
			su->st.abandoned++;
			subunit_job_free(c->job);
			c->job = NULL;
		}
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		fh_connect_cancel(c->conn);
		c->conn = NULL;
		if (c->retry != NULL) {
			event_free(c->retry);
			c->retry = NULL;
		}
		c->state = SUBUNIT_C_DOWN;
		c->proven = false;
	}
	su->busy = 0;
	if (su->kick != NULL) {
		event_free(su->kick);
		su->kick = NULL;
	}
	su->curl = NULL;	/* the gateway's; our transfers are gone */
}

static void
subunit_destroy(void *self)
{
	struct subunit	*su = self;

	if (su == NULL)
		return;
	subunit_stop(su);
	subunit_free_servers(su);
	fh_conf_clear(subunit_vars, su);
	free(su->instance);
	free(su->host);
	free(su);
}

static void
subunit_stats(void *self, json_t *out)
{
	struct subunit	*su = self;
	size_t		 i;
	int		 up = 0, jobs = 0;

	for (i = 0; i < su->nservers; i++)
		up += su->servers[i].nup;
	for (i = 0; i < su->nconns; i++)
		jobs += su->conns[i].job != NULL;
#define S(k, v)	json_object_set_new(out, k, json_integer((json_int_t)(v)))
	S("connections_up", up);
	S("jobs_in_flight", jobs);
	S("jobs", su->st.jobs);
	S("jobs_completed", su->st.completed);
	S("jobs_failed", su->st.failed);
	S("jobs_invalid", su->st.invalid);
	S("jobs_abandoned", su->st.abandoned);
	S("aborted_builds", su->st.aborted_builds);
	S("fetch_errors", su->st.fetch_errors);
	S("not_found", su->st.not_found);
	S("too_large", su->st.too_large);
	S("corrupt_streams", su->st.corrupt);
	S("events", su->st.emitted);
	S("events_refused", su->st.refused);
	S("stream_bytes", su->st.bytes);
	S("packets", su->st.packets);
	S("connects", su->st.connects);
	S("disconnects", su->st.disconnects);
	S("protocol_errors", su->st.protocol_errors);
#undef S
}

const struct fh_source_ops fh_source_subunit = {
	.name = "subunit",
	.schema = &subunit_schema,
	.create = subunit_create,
	.configure = subunit_configure,
	.start = subunit_start,
	.stop = subunit_stop,
	.destroy = subunit_destroy,
	.stats = subunit_stats,
};

