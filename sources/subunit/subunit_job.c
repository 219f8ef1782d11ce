/*
 * A push-subunit job. First its argument: JSON in, topic and payload out
 * (pure, fuzzed). Then its life on a gearman connection: start, stop,
 * finish (one WORK_COMPLETE or WORK_FAIL), free; the fetch in between is
 * subunit_fetch.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "sources/subunit/subunit_int.h"
#include "sources/subunit/subunit_job.h"

void
subunit_job_clear(struct subunit_job_info *info)
{
	free(info->source_url);
	json_decref(info->fields);
	free(info->project);
	free(info->change);
	memset(info, 0, sizeof *info);
}

/* A non-empty string without NULs, or NULL. */
static const char *
subunit_job_str(const json_t *o, const char *key)
{
	const json_t	*v = json_object_get(o, key);
	const char	*s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (s[0] == '\0' || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

/* The level that stands for the change: the change number; for builds
 * without one (periodic, post, tags) the queue name, else the short ref. */
static char *
subunit_job_change(const json_t *fields)
{
	const json_t	*v = json_object_get(fields, "build_change");
	const char	*s;
	static const char *const prefixes[] = { "refs/heads/", "refs/tags/",
	    "refs/", NULL };
	size_t		 i, n;

	if (json_is_integer(v))
		return fh_xasprintf("%lld", (long long)json_integer_value(v));
	if ((s = subunit_job_str(fields, "build_change")) != NULL)
		return fh_xstrdup(s);
	if ((s = subunit_job_str(fields, "build_queue")) != NULL)
		return fh_xstrdup(s);
	if ((s = subunit_job_str(fields, "build_ref")) != NULL) {
		for (i = 0; prefixes[i] != NULL; i++) {
			n = strlen(prefixes[i]);
			if (strncmp(s, prefixes[i], n) == 0 && s[n] != '\0') {
				s += n;
				break;
			}
		}
		return fh_xstrdup(s);
	}
	return NULL;
}

int
subunit_job_parse(const uint8_t *buf, size_t len,
    struct subunit_job_info *info, char **errstr)
{
	json_t		*root, *event, *fields;
	json_error_t	 jerr;
	const char	*s;

	memset(info, 0, sizeof *info);
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		*errstr = fh_xasprintf("job argument is not JSON: %s "
		    "(at byte %d)", jerr.text, jerr.position);
		return -1;
	}
	if (!json_is_object(root)) {
		*errstr = fh_xstrdup("job argument is not a JSON object");
		goto fail;
	}
	event = json_object_get(root, "event");
	fields = json_object_get(event, "fields");
	if (fields == NULL)
		fields = json_object_get(event, "@fields");
	if (!json_is_object(fields)) {
		*errstr = fh_xstrdup("job has no event.fields object");
		goto fail;
	}
	if ((s = subunit_job_str(fields, "project")) == NULL) {
		*errstr = fh_xstrdup("job has no event.fields.project");
		goto fail;
	}
	info->project = fh_xstrdup(s);
	info->fields = json_incref(fields);
	info->change = subunit_job_change(fields);
	s = subunit_job_str(fields, "build_status");
	info->aborted = s != NULL && strcasecmp(s, "ABORTED") == 0;
	if ((s = subunit_job_str(root, "source_url")) != NULL)
		info->source_url = fh_xstrdup(s);
	else if (!info->aborted) {
		*errstr = fh_xstrdup("job has no source_url");
		goto fail;
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	subunit_job_clear(info);
	return -1;
}

/* Append a topic level, '+' and '#' replaced. */
static void
subunit_job_level(char **t, size_t *len, const char *s)
{
	size_t	n = strlen(s), i;

	*t = fh_xrealloc(*t, *len + 1 + n + 1);
	(*t)[(*len)++] = '/';
	for (i = 0; i < n; i++)
		(*t)[(*len)++] = s[i] == '+' || s[i] == '#' ? '_' : s[i];
	(*t)[*len] = '\0';
}

char *
subunit_job_topic(const char *base, const char *host,
    const struct subunit_job_info *info)
{
	char	*t = fh_xstrdup(base);
	size_t	 len = strlen(base);

	subunit_job_level(&t, &len, host);
	subunit_job_level(&t, &len, info->project);
	if (info->change != NULL)
		subunit_job_level(&t, &len, info->change);
	if (!fh_topic_is_valid(t, len)) {
		free(t);
		return NULL;
	}
	return t;
}

json_t *
subunit_job_payload(const struct subunit_job_info *info, const char *status,
    const char *error, const char *fetched_url, json_t *summary)
{
	json_t		*o = json_object(), *v;
	const char	*key;

	v = json_object_get(info->fields, "build_uuid");
	json_object_set_new(o, "build_uuid", v != NULL ? json_incref(v) :
	    json_null());
	json_object_set_new(o, "source_url", info->source_url != NULL ?
	    json_string(info->source_url) : json_null());
	json_object_set_new(o, "status", json_string(status));
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	if (fetched_url != NULL)
		json_object_set_new(o, "fetched_url", json_string(fetched_url));
	if (summary != NULL)
		json_object_set_new(o, "summary", summary);
	json_object_foreach(info->fields, key, v) {
		if (json_object_get(o, key) == NULL)
			json_object_set(o, key, v);
	}
	return o;
}

/* ---- jobs ---------------------------------------------------------------- */

void
subunit_job_free(struct subunit_job *j)
{
	if (j == NULL)
		return;
	if (j->retry != NULL)
		event_free(j->retry);
	if (j->easy != NULL) {
		if (j->su->curl != NULL)
			fh_curl_cancel(j->su->curl, j->easy);
		curl_easy_cleanup(j->easy);
	}
	if (j->z_init)
		inflateEnd(&j->z);
	subunit_parser_free(j->parser);
	subunit_job_clear(&j->info);
	free(j->handle);
	free(j->url);
	free(j->error);
	free(j);
}

/* Publish, then answer gearmand once, then take the next job. */
void
subunit_job_finish(struct subunit_job *j, const char *status,
    const char *error, json_t *summary)
{
	struct subunit		*su = j->su;
	struct subunit_conn	*c = j->conn;
	struct gearman_arg	 args[2];
	struct fh_event		*ev;
	const uint8_t		*payload;
	size_t			 len;
	char			*topic;
	int			 rc = -1;

	topic = subunit_job_topic(su->topic, su->host, &j->info);
	if (topic == NULL) {
		fh_log(LOG_WARNING, "subunit %s: job %s: project '%s' makes "
		    "no valid topic", su->instance, j->handle, j->info.project);
		su->st.invalid++;
		json_decref(summary);
		status = "failed";
		ev = NULL;
	} else {
		ev = fh_event_new(topic, subunit_job_payload(&j->info, status,
		    error, j->url, summary));
		fh_event_set_qos(ev, su->qos);
		fh_event_set_retain(ev, su->retain);
		fh_event_set_origin(ev, su->instance);
		rc = fh_gateway_emit(su->gw, ev);
		if (rc == 0)
			su->st.emitted++;
		else
			su->st.refused++;
		free(topic);
	}
	args[0].p = (const uint8_t *)j->handle;
	args[0].len = strlen(j->handle);
	if (rc == 0 && (strcmp(status, "failed") != 0 || j->info.aborted)) {
		payload = fh_event_payload(ev, &len);
		args[1].p = payload;
		args[1].len = len;
		subunit_conn_send(c, GEARMAN_WORK_COMPLETE, args, 2);
		su->st.completed++;
	} else {
		subunit_conn_send(c, GEARMAN_WORK_FAIL, args, 1);
		su->st.failed++;
	}
	if (rc == 0)
		fh_log(LOG_DEBUG, "subunit %s: job %s: %s on %s",
		    su->instance, j->handle,
		    status, fh_event_topic(ev));
	else if (ev != NULL)
		fh_log(LOG_WARNING, "subunit %s: job %s: the bus refused "
		    "the event on %s", su->instance, j->handle, fh_event_topic(ev));
	fh_event_unref(ev);
	c->job = NULL;
	subunit_job_free(j);
	su->busy--;
	c->state = SUBUNIT_C_IDLE;
	subunit_conn_try_grab(c);
	subunit_kick(su);
}

void
subunit_job_start(struct subunit_conn *c, const struct gearman_arg *handle,
    const struct gearman_arg *data)
{
	struct subunit		*su = c->su;
	struct subunit_job	*j = fh_xcalloc(1, sizeof *j);
	struct gearman_arg	 a;
	char			*err = NULL;

	j->su = su;
	j->conn = c;
	j->handle = fh_xstrndup((const char *)handle->p, handle->len);
	c->job = j;
	if (subunit_job_parse(data->p, data->len, &j->info, &err) != 0) {
		fh_log(LOG_WARNING, "subunit %s: job %s: %s", su->instance,
		    j->handle, err);
		free(err);
		su->st.invalid++;
		a.p = handle->p;
		a.len = handle->len;
		subunit_conn_send(c, GEARMAN_WORK_FAIL, &a, 1);
		su->st.failed++;
		c->job = NULL;
		subunit_job_free(j);
		su->busy--;
		c->state = SUBUNIT_C_IDLE;
		subunit_conn_try_grab(c);
		return;
	}
	if (j->info.aborted) {
		/* Zuul throws these away: nothing to fetch. The status stays
		 * in the original's vocabulary (it said failed for these),
		 * error says why; the job itself went as it should. */
		su->st.aborted_builds++;
		subunit_job_finish(j, "failed", "build aborted", NULL);
		return;
	}
	subunit_fetch_start(j);
}

/* Stop the transfer from the write callback with a reason. */
size_t
subunit_job_stop(struct subunit_job *j, const char *counter, char *error)
{
	if (j->error == NULL) {
		j->error = error;
		j->counter = counter;
	} else
		free(error);
	return 0;	/* CURLE_WRITE_ERROR */
}

