/*
 * Ansible callback events -> (topic, payload).
 *
 * An event is a JSON object whose keys are the payload keys of the
 * original mqtt callback plugin plus "ansible_type", which picks one of
 * the four topic forms:
 *
 *   start   <base>/playbook/<playbook_id>/action/start
 *   finish  <base>/playbook/<playbook_id>/action/finish/<status>
 *   stats   <base>/playbook/<playbook_id>/stats/<ansible_host>
 *   task    <base>/playbook/<playbook_id>/task/<ansible_host>/<status>
 *
 * Each form has a table of the keys it allows (in payload order), the
 * keys it requires and the status values it allows. Unknown keys, wrong
 * types and missing keys are errors that name the field.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/xmalloc.h"
#include "sources/ansible/ansible_parse.h"

/* A topic level taken from an event: no '/', no wildcards, not empty. */
#define ANSIBLE_LEVEL_MAX	255

enum parse_kind {
	PARSE_STRING,		/* any string */
	PARSE_LEVEL,		/* a string used as one topic level */
	PARSE_STATUS,		/* one of the form's status words */
	PARSE_OBJECT,		/* any JSON object */
	PARSE_STATS,		/* object of non-negative integers */
	PARSE_BOOL,
	PARSE_TYPE,		/* ansible_type itself */
};

struct parse_field {
	const char	*key;
	enum parse_kind	 kind;
};

static const struct parse_field parse_fields[] = {
	{ "ansible_type",	PARSE_TYPE },
	{ "status",		PARSE_STATUS },
	{ "host",		PARSE_STRING },
	{ "ansible_host",	PARSE_LEVEL },
	{ "session",		PARSE_STRING },
	{ "playbook_name",	PARSE_STRING },
	{ "playbook_id",	PARSE_LEVEL },
	{ "ansible_task",	PARSE_STRING },
	{ "ansible_result",	PARSE_OBJECT },
	{ "stats",		PARSE_STATS },
	{ "ignore_errors",	PARSE_BOOL },
	{ NULL,			0 }
};

enum parse_form {
	PARSE_FORM_START,
	PARSE_FORM_FINISH,
	PARSE_FORM_STATS,
	PARSE_FORM_TASK,
};

struct parse_type {
	const char		*name;
	enum parse_form		 form;
	const char *const	*keys;		/* allowed, in payload order */
	const char *const	*required;
	const char *const	*statuses;	/* NULL: no status allowed */
	const char		*def_status;	/* when status is absent */
};

static const char *const parse_start_keys[] = { "status", "host", "session",
	"playbook_name", "playbook_id", "ansible_type", NULL };
static const char *const parse_start_req[] = { "host", "session",
	"playbook_name", "playbook_id", NULL };
static const char *const parse_start_status[] = { "OK", NULL };

static const char *const parse_finish_keys[] = { "status", "playbook_id",
	"playbook_name", "host", "session", "ansible_type", NULL };
static const char *const parse_finish_req[] = { "status", "playbook_id",
	"playbook_name", NULL };
static const char *const parse_finish_status[] = { "OK", "FAILED", NULL };

static const char *const parse_stats_keys[] = { "host", "ansible_host",
	"playbook_id", "playbook_name", "stats", "session", "ansible_type",
	NULL };
static const char *const parse_stats_req[] = { "host", "ansible_host",
	"playbook_id", "playbook_name", "stats", NULL };

static const char *const parse_task_keys[] = { "status", "host",
	"ansible_host", "session", "ansible_type", "playbook_name",
	"playbook_id", "ansible_task", "ansible_result", "ignore_errors", NULL };
static const char *const parse_task_req[] = { "status", "host",
	"ansible_host", "session", "playbook_name", "playbook_id",
	"ansible_task", "ansible_result", NULL };
static const char *const parse_task_status[] = { "OK", "FAILED",
	"UNREACHABLE", "SKIPPED", NULL };

static const struct parse_type parse_types[] = {
	{ "start", PARSE_FORM_START, parse_start_keys, parse_start_req,
	    parse_start_status, "OK" },
	{ "finish", PARSE_FORM_FINISH, parse_finish_keys, parse_finish_req,
	    parse_finish_status, NULL },
	{ "stats", PARSE_FORM_STATS, parse_stats_keys, parse_stats_req,
	    NULL, NULL },
	{ "task", PARSE_FORM_TASK, parse_task_keys, parse_task_req,
	    parse_task_status, NULL },
	{ NULL, 0, NULL, NULL, NULL, NULL }
};

/* The counters that summarize(host) always has. */
static const char *const parse_stats_counters[] = { "ok", "changed",
	"unreachable", "failures", "skipped", NULL };

static bool
parse_in_list(const char *const *list, const char *s)
{
	size_t	i;

	if (list == NULL)
		return false;
	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static int
parse_fail(struct ansible_parse_error *err, const char *prefix,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
parse_fail(struct ansible_parse_error *err, const char *prefix,
    const char *key, const char *fmt, ...)
{
	va_list	ap;

	if ((key == NULL || *key == '\0') && *prefix == '\0')
		snprintf(err->field, sizeof err->field, "body");
	else if (key == NULL || *key == '\0')
		snprintf(err->field, sizeof err->field, "%s", prefix);
	else if (*prefix == '\0')
		snprintf(err->field, sizeof err->field, "%s", key);
	else
		snprintf(err->field, sizeof err->field, "%s.%s", prefix, key);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
parse_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:	return "an object";
	case JSON_ARRAY:	return "an array";
	case JSON_STRING:	return "a string";
	case JSON_INTEGER:	return "an integer";
	case JSON_REAL:		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	default:		return "null";
	}
}

static int
parse_level(const char *s, size_t len, const char **why)
{
	if (len == 0) {
		*why = "must not be empty";
		return -1;
	}
	if (len > ANSIBLE_LEVEL_MAX) {
		*why = "is longer than 255 bytes";
		return -1;
	}
	if (memchr(s, '/', len) != NULL) {
		*why = "must not contain '/'";
		return -1;
	}
	if (memchr(s, '+', len) != NULL || memchr(s, '#', len) != NULL) {
		*why = "must not contain '+' or '#'";
		return -1;
	}
	return 0;
}

static int
parse_stats(const json_t *v, const char *prefix, const char *key,
    struct ansible_parse_error *err)
{
	const char	*k;
	json_t		*n;
	char		 path[sizeof err->field];
	size_t		 i;

	snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
	json_object_foreach((json_t *)v, k, n) {
		if (!json_is_integer(n) || json_integer_value(n) < 0)
			return parse_fail(err, path, k,
			    "must be a non-negative integer, not %s",
			    json_is_integer(n) ? "a negative one" :
			    parse_json_type(n));
	}
	for (i = 0; parse_stats_counters[i] != NULL; i++)
		if (json_object_get(v, parse_stats_counters[i]) == NULL)
			return parse_fail(err, path, parse_stats_counters[i],
			    "missing");
	return 0;
}

/* Check one key's value against its kind. */
static int
parse_check(const struct parse_type *t, const struct parse_field *f,
    const json_t *v, const char *prefix, struct ansible_parse_error *err)
{
	const char	*why;

	switch (f->kind) {
	case PARSE_TYPE:
		return 0;	/* checked first, by the caller */
	case PARSE_STRING:
	case PARSE_LEVEL:
	case PARSE_STATUS:
		if (!json_is_string(v))
			return parse_fail(err, prefix, f->key,
			    "must be a string, not %s", parse_json_type(v));
		if (f->kind == PARSE_LEVEL && parse_level(json_string_value(v),
		    json_string_length(v), &why) != 0)
			return parse_fail(err, prefix, f->key, "%s", why);
		if (f->kind == PARSE_STATUS &&
		    !parse_in_list(t->statuses, json_string_value(v)))
			return parse_fail(err, prefix, f->key,
			    "'%.40s' is not a status of a %s event",
			    json_string_value(v), t->name);
		return 0;
	case PARSE_OBJECT:
		if (!json_is_object(v))
			return parse_fail(err, prefix, f->key,
			    "must be an object, not %s", parse_json_type(v));
		return 0;
	case PARSE_STATS:
		if (!json_is_object(v))
			return parse_fail(err, prefix, f->key,
			    "must be an object, not %s", parse_json_type(v));
		return parse_stats(v, prefix, f->key, err);
	case PARSE_BOOL:
		if (!json_is_boolean(v))
			return parse_fail(err, prefix, f->key,
			    "must be a boolean, not %s", parse_json_type(v));
		return 0;
	}
	return 0;
}

static const struct parse_field *
parse_find_field(const char *key)
{
	size_t	i;

	for (i = 0; parse_fields[i].key != NULL; i++)
		if (strcmp(parse_fields[i].key, key) == 0)
			return &parse_fields[i];
	return NULL;
}

static char *
parse_topic(const struct parse_type *t, const char *base, const json_t *o)
{
	const char	*id, *st, *h;

	id = json_string_value(json_object_get(o, "playbook_id"));
	st = json_string_value(json_object_get(o, "status"));
	h = json_string_value(json_object_get(o, "ansible_host"));
	switch (t->form) {
	case PARSE_FORM_START:
		return fh_xasprintf("%s/playbook/%s/action/start", base, id);
	case PARSE_FORM_FINISH:
		return fh_xasprintf("%s/playbook/%s/action/finish/%s", base,
		    id, st);
	case PARSE_FORM_STATS:
		return fh_xasprintf("%s/playbook/%s/stats/%s", base, id, h);
	case PARSE_FORM_TASK:
		return fh_xasprintf("%s/playbook/%s/task/%s/%s", base, id, h,
		    st);
	}
	return NULL;
}

/* Validate one event object and build its topic and payload. */
static int
parse_event(const json_t *o, const char *prefix, const char *base,
    struct ansible_event *ev, struct ansible_parse_error *err)
{
	const struct parse_type	*t;
	const struct parse_field *f;
	const char		*key, *type;
	json_t			*v, *payload;
	size_t			 i;

	if (!json_is_object(o))
		return parse_fail(err, prefix, NULL,
		    "an event must be an object, not %s", parse_json_type(o));
	v = json_object_get(o, "ansible_type");
	if (v == NULL)
		return parse_fail(err, prefix, "ansible_type", "missing");
	if (!json_is_string(v))
		return parse_fail(err, prefix, "ansible_type",
		    "must be a string, not %s", parse_json_type(v));
	type = json_string_value(v);
	for (t = parse_types; t->name != NULL; t++)
		if (strcmp(t->name, type) == 0)
			break;
	if (t->name == NULL)
		return parse_fail(err, prefix, "ansible_type",
		    "'%.40s' is not one of start, finish, stats, task", type);

	json_object_foreach((json_t *)o, key, v) {
		f = parse_find_field(key);
		if (f == NULL || !parse_in_list(t->keys, key))
			return parse_fail(err, prefix, key,
			    "unknown field in a %s event", t->name);
		if (parse_check(t, f, v, prefix, err) != 0)
			return -1;
	}
	for (i = 0; t->required[i] != NULL; i++)
		if (json_object_get(o, t->required[i]) == NULL)
			return parse_fail(err, prefix, t->required[i],
			    "missing in a %s event", t->name);

	payload = json_object();
	for (i = 0; t->keys[i] != NULL; i++) {
		key = t->keys[i];
		if (strcmp(key, "ansible_type") == 0)
			json_object_set_new(payload, key,
			    json_string(t->name));
		else if ((v = json_object_get(o, key)) != NULL)
			json_object_set(payload, key, v);
		else if (strcmp(key, "status") == 0 && t->def_status != NULL)
			json_object_set_new(payload, key,
			    json_string(t->def_status));
	}
	ev->topic = parse_topic(t, base, payload);
	ev->payload = payload;
	return 0;
}

void
ansible_events_free(struct ansible_event *evs, size_t n)
{
	size_t	i;

	if (evs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(evs[i].topic);
		json_decref(evs[i].payload);
	}
	free(evs);
}

int
ansible_parse(const uint8_t *buf, size_t len, const char *base,
    struct ansible_event **out, size_t *nout, struct ansible_parse_error *err)
{
	struct ansible_event	*evs = NULL;
	json_error_t		 jerr;
	json_t			*root, *o;
	char			 prefix[32];
	size_t			 i, n = 0;

	*out = NULL;
	*nout = 0;
	memset(err, 0, sizeof *err);
	root = json_loadb((const char *)buf, len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL)
		return parse_fail(err, "", NULL,
		    "invalid JSON at line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
	if (json_is_object(root)) {
		evs = fh_xcalloc(1, sizeof *evs);
		if (parse_event(root, "", base, &evs[0], err) != 0)
			goto fail;
		n = 1;
	} else if (json_is_array(root)) {
		evs = fh_xcalloc(json_array_size(root) + 1, sizeof *evs);
		json_array_foreach(root, i, o) {
			snprintf(prefix, sizeof prefix, "[%zu]", i);
			if (parse_event(o, prefix, base, &evs[n], err) != 0)
				goto fail;
			n++;
		}
	} else {
		parse_fail(err, "", NULL,
		    "the body must be an event object or an array of them, "
		    "not %s", parse_json_type(root));
		goto fail;
	}
	json_decref(root);
	*out = evs;
	*nout = n;
	return 0;
fail:
	ansible_events_free(evs, n);
	json_decref(root);
	return -1;
}
