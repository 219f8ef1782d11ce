/*
 * Prometheus text for /metrics: the whole daemon's fh_gateway_stats()
 * (each module adds its counters through its stats op), one firehose_*
 * sample per number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway/http.h"
#include "gateway/xmalloc.h"

/* Prometheus text rendering. */
struct metrics_sample {
	char	*name;
	char	*labels;	/* "" or {a="b",...} */
	double	 value;
	size_t	 order;
};

struct metrics_samples {
	struct metrics_sample	*v;
	size_t			 n, cap;
};

static const struct {
	const char	*key;
	const char	*prefix;	/* metric name part */
	const char	*label;
} metrics_maps[] = {
	{ "sources", "source", "source" },
	{ "listeners", "listener", "listener" },
	{ "drops", "drops", "reason" },
	{ "dropped", "dropped", "reason" },
	{ "errors", "errors", "reason" },
	{ "connections", "connections", "listener" },
	{ "links", "link", "bridge" },
	{ NULL, NULL, NULL }
};

static char *
metrics_name(const char *prefix, const char *key)
{
	char	*s = fh_xasprintf("%s_%s", prefix, key), *p;

	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
			*p = '_';
	return s;
}

static char *
metrics_label_add(const char *labels, const char *name, const char *value)
{
	size_t		 len = strlen(value), i, o = 0;
	char		*esc = fh_xmalloc(2 * len + 1), *s;

	for (i = 0; i < len; i++) {
		if (value[i] == '\\' || value[i] == '"') {
			esc[o++] = '\\';
			esc[o++] = value[i];
		} else if (value[i] == '\n') {
			esc[o++] = '\\';
			esc[o++] = 'n';
		} else
			esc[o++] = value[i];
	}
	esc[o] = '\0';
	if (*labels == '\0')
		s = fh_xasprintf("{%s=\"%s\"}", name, esc);
	else	/* labels ends in '}' */
		s = fh_xasprintf("%.*s,%s=\"%s\"}", (int)strlen(labels) - 1,
		    labels, name, esc);
	free(esc);
	return s;
}

static void
metrics_sample_add(struct metrics_samples *ss, char *name, const char *labels,
    double value)
{
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? 2 * ss->cap : 64;
		ss->v = fh_xrealloc(ss->v, ss->cap * sizeof *ss->v);
	}
	ss->v[ss->n].name = name;
	ss->v[ss->n].labels = fh_xstrdup(labels);
	ss->v[ss->n].value = value;
	ss->v[ss->n].order = ss->n;
	ss->n++;
}

static void	metrics_walk(struct metrics_samples *, const char *prefix,
		    const char *labels, json_t *);

static void
metrics_value(struct metrics_samples *ss, const char *prefix,
    const char *key, const char *labels, json_t *v)
{
	char	*name;
	int	 i;

	if (json_is_number(v) || json_is_boolean(v)) {
		name = metrics_name(prefix, key);
		metrics_sample_add(ss, name, labels, json_is_number(v) ?
		    json_number_value(v) : json_is_true(v) ? 1 : 0);
		return;
	}
	if (!json_is_object(v))
		return;
	for (i = 0; metrics_maps[i].key != NULL; i++)
		if (strcmp(key, metrics_maps[i].key) == 0)
			break;
	if (metrics_maps[i].key == NULL) {
		name = metrics_name(prefix, key);
		metrics_walk(ss, name, labels, v);
		free(name);
		return;
	}
	/* A map whose keys become label values. */
	{
		const char	*k, *s;
		json_t		*c;
		char		*sub, *lab, *lab2;

		name = metrics_name(prefix, metrics_maps[i].prefix);
		json_object_foreach(v, k, c) {
			lab = metrics_label_add(labels,
			    metrics_maps[i].label, k);
			if (json_is_object(c)) {
				if ((s = json_string_value(json_object_get(c,
				    "type"))) != NULL) {
					lab2 = metrics_label_add(lab, "type",
					    s);
					free(lab);
					lab = lab2;
				}
				if ((s = json_string_value(json_object_get(c,
				    "protocol"))) != NULL) {
					lab2 = metrics_label_add(lab,
					    "protocol", s);
					free(lab);
					lab = lab2;
				}
				metrics_walk(ss, name, lab, c);
			} else if (json_is_number(c)) {
				sub = fh_xstrdup(name);
				metrics_sample_add(ss, sub, lab,
				    json_number_value(c));
			}
			free(lab);
		}
		free(name);
	}
}

static void
metrics_walk(struct metrics_samples *ss, const char *prefix,
    const char *labels, json_t *o)
{
	const char	*k, *kk;
	json_t		*v, *vv;

	json_object_foreach(o, k, v) {
		/* The sinks map is transparent: firehose_mqtt_... */
		if (strcmp(prefix, "firehose") == 0 &&
		    strcmp(k, "sinks") == 0 && json_is_object(v)) {
			json_object_foreach(v, kk, vv)
				metrics_value(ss, prefix, kk, labels, vv);
			continue;
		}
		metrics_value(ss, prefix, k, labels, v);
	}
}

static int
metrics_sample_cmp(const void *a, const void *b)
{
	const struct metrics_sample *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

char *
fh_metrics_render(json_t *stats)
{
	struct metrics_samples	 ss = { NULL, 0, 0 };
	struct evbuffer		*b = evbuffer_new();
	size_t			 i, len;
	char			*out;

	metrics_walk(&ss, "firehose", "", stats);
	if (ss.n > 0)
		qsort(ss.v, ss.n, sizeof *ss.v, metrics_sample_cmp);
	for (i = 0; i < ss.n; i++) {
		if (i == 0 || strcmp(ss.v[i].name, ss.v[i - 1].name) != 0)
			evbuffer_add_printf(b, "# TYPE %s untyped\n",
			    ss.v[i].name);
		if (ss.v[i].value == (double)(long long)ss.v[i].value)
			evbuffer_add_printf(b, "%s%s %lld\n", ss.v[i].name,
			    ss.v[i].labels, (long long)ss.v[i].value);
		else
			evbuffer_add_printf(b, "%s%s %.10g\n", ss.v[i].name,
			    ss.v[i].labels, ss.v[i].value);
	}
	for (i = 0; i < ss.n; i++) {
		free(ss.v[i].name);
		free(ss.v[i].labels);
	}
	free(ss.v);
	len = evbuffer_get_length(b);
	out = fh_xmalloc(len + 1);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return out;
}
