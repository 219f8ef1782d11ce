/*
 * The message as it is fanned out: one refcounted mqtt_msg per bus event,
 * shared by every subscriber's queue and output buffer.
 */
#include <stdlib.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

struct mqtt_msg *
msg_create(struct fh_event *ev)
{
	struct mqtt_msg	*m = fh_xcalloc(1, sizeof *m);

	m->refs = 1;
	m->ev = fh_event_ref(ev);
	m->topic = (const uint8_t *)fh_event_topic(ev);
	m->topic_len = fh_event_topic_len(ev);
	m->payload = fh_event_payload(ev, &m->payload_len);
	m->qos = (uint8_t)fh_event_qos(ev);
	if (m->qos > 2)
		m->qos = 2;
	return m;
}

struct mqtt_msg *
msg_ref(struct mqtt_msg *m)
{
	m->refs++;
	return m;
}

void
msg_unref(struct mqtt_msg *m)
{
	int	i, j;

	if (m == NULL || --m->refs > 0)
		return;
	for (i = 0; i < 2; i++) {
		free(m->pkt0[i]);
		free(m->pkt0_5[i]);
		for (j = 0; j < 2; j++) {
			free(m->head[i][j]);
			free(m->head5[i][j]);
		}
	}
	fh_event_unref(m->ev);
	free(m);
}

void
msg_release_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	msg_unref(arg);
}

void
msg_retain_free_cb(void *msg)
{
	msg_unref(msg);
}
