#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/event.h"
#include "gateway/xmalloc.h"

struct fh_event {
	unsigned	 refs;
	char		*topic;
	size_t		 topic_len;
	json_t		*json;
	uint8_t		*payload;	/* serialized lazily for JSON */
	size_t		 payload_len;
	int		 qos;
	bool		 retain;
	char		*origin;
	uint64_t	 seq;
	int64_t		 time_us;
	uint8_t		*props;		/* MQTT 5 properties, opaque */
	size_t		 props_len;
	int64_t		 expiry_us;	/* 0: never */
	uint8_t		 payload_format;
};

static struct fh_event *
event_alloc(void)
{
	struct fh_event	*ev = fh_xcalloc(1, sizeof *ev);
	struct timespec	 ts;

	ev->refs = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev->time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return ev;
}

struct fh_event *
fh_event_new(const char *topic, json_t *payload)
{
	struct fh_event	*ev = event_alloc();

	ev->topic_len = strlen(topic);
	ev->topic = fh_xstrndup(topic, ev->topic_len);
	ev->json = payload;
	return ev;
}

struct fh_event *
fh_event_create_raw(const char *topic, const void *payload, size_t len)
{
	uint8_t	*p = fh_xmalloc(len);

	memcpy(p, payload, len);
	return fh_event_new_raw(fh_xstrdup(topic), strlen(topic), p, len);
}

struct fh_event *
fh_event_new_raw(char *topic, size_t topic_len, uint8_t *payload, size_t len)
{
	struct fh_event	*ev = event_alloc();

	ev->topic = topic;
	ev->topic_len = topic_len;
	ev->payload = payload;
	ev->payload_len = len;
	return ev;
}

struct fh_event *
fh_event_ref(struct fh_event *ev)
{
	ev->refs++;
	return ev;
}

void
fh_event_unref(struct fh_event *ev)
{
	if (ev == NULL || --ev->refs > 0)
		return;
	free(ev->topic);
	json_decref(ev->json);
	free(ev->payload);
	free(ev->origin);
	free(ev->props);
	free(ev);
}

void
fh_event_set_qos(struct fh_event *ev, int qos)
{
	ev->qos = qos;
}

void
fh_event_set_retain(struct fh_event *ev, bool retain)
{
	ev->retain = retain;
}

void
fh_event_set_origin(struct fh_event *ev, const char *origin)
{
	free(ev->origin);
	ev->origin = origin ? fh_xstrdup(origin) : NULL;
}

void
fh_event_set_seq(struct fh_event *ev, uint64_t seq)
{
	ev->seq = seq;
}

const char *
fh_event_topic(const struct fh_event *ev)
{
	return ev->topic;
}

size_t
fh_event_topic_len(const struct fh_event *ev)
{
	return ev->topic_len;
}

const uint8_t *
fh_event_payload(struct fh_event *ev, size_t *len)
{
	if (ev->payload == NULL && ev->json != NULL) {
		/* 15 significant digits: 0.1 stays "0.1", not the
		 * "0.10000000000000001" of jansson's default %.17g. */
		char *s = json_dumps(ev->json, JSON_COMPACT |
		    JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
		    JSON_REAL_PRECISION(15));

		if (s == NULL)
			s = fh_xstrdup("null");
		ev->payload = (uint8_t *)s;
		ev->payload_len = strlen(s);
	}
	*len = ev->payload_len;
	return ev->payload ? ev->payload : (const uint8_t *)"";
}

const json_t *
fh_event_json(const struct fh_event *ev)
{
	return ev->json;
}

int
fh_event_qos(const struct fh_event *ev)
{
	return ev->qos;
}

bool
fh_event_retain(const struct fh_event *ev)
{
	return ev->retain;
}

const char *
fh_event_origin(const struct fh_event *ev)
{
	return ev->origin ? ev->origin : "";
}

uint64_t
fh_event_seq(const struct fh_event *ev)
{
	return ev->seq;
}

int64_t
fh_event_time_us(const struct fh_event *ev)
{
	return ev->time_us;
}

void
fh_event_set_props(struct fh_event *ev, const void *props, size_t len)
{
	free(ev->props);
	ev->props = NULL;
	ev->props_len = 0;
	if (len == 0)
		return;
	ev->props = fh_xmalloc(len);
	memcpy(ev->props, props, len);
	ev->props_len = len;
}

const uint8_t *
fh_event_props(const struct fh_event *ev, size_t *len)
{
	*len = ev->props_len;
	return ev->props;
}

void
fh_event_set_expiry_us(struct fh_event *ev, int64_t at_us)
{
	ev->expiry_us = at_us;
}

int64_t
fh_event_expiry_us(const struct fh_event *ev)
{
	return ev->expiry_us;
}

bool
fh_event_is_expired(const struct fh_event *ev, int64_t now_us)
{
	return ev->expiry_us != 0 && now_us >= ev->expiry_us;
}

void
fh_event_set_payload_format(struct fh_event *ev, uint8_t pfi)
{
	ev->payload_format = pfi;
}

uint8_t
fh_event_payload_format(const struct fh_event *ev)
{
	return ev->payload_format;
}

bool
fh_utf8_is_valid(const uint8_t *s, size_t len)
{
	size_t		i = 0, n, k;
	uint32_t	cp;

	while (i < len) {
		uint8_t c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			n = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (i + n >= len)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool
fh_topic_is_valid(const char *topic, size_t len)
{
	if (len == 0 || len > 65535)
		return false;
	if (memchr(topic, '\0', len) || memchr(topic, '+', len) ||
	    memchr(topic, '#', len))
		return false;
	return fh_utf8_is_valid((const uint8_t *)topic, len);
}
