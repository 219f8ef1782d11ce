/* Placeholder sink: owns [broker] and [listener] until the broker lands. */
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/listener.h"
#include "sinks/mqtt/mqtt.h"

struct mqtt {
	struct fh_gateway	 *gw;
	struct mqtt_listener	**listeners;
	size_t			  nlisteners;
};

static void *
mqtt_create(struct fh_gateway *gw)
{
	struct mqtt	*m = fh_xcalloc(1, sizeof *m);

	m->gw = gw;
	return m;
}

static void
mqtt_on_accept(struct bufferevent *bev, const struct mqtt_peer *peer,
    void *arg)
{
	(void)peer;
	(void)arg;
	bufferevent_free(bev);
}

static int
mqtt_configure(void *self, const struct fh_conf *conf, char **errstr)
{
	struct mqtt		*m = self;
	const struct fh_section	*sec;

	if ((sec = fh_conf_find(conf, "broker")) != NULL)
		fh_section_mark(sec);
	for (sec = NULL; (sec = fh_conf_next(conf, sec, "listener")) != NULL;) {
		struct mqtt_listener *l = mqtt_listener_create(m->gw, sec,
		    mqtt_on_accept, m, errstr);

		if (l == NULL)
			return -1;
		m->listeners = fh_xrealloc(m->listeners,
		    (m->nlisteners + 1) * sizeof *m->listeners);
		m->listeners[m->nlisteners++] = l;
	}
	return 0;
}

static int
mqtt_start(void *self)
{
	struct mqtt	*m = self;
	size_t		 i;

	for (i = 0; i < m->nlisteners; i++)
		if (mqtt_listener_start(m->listeners[i]) != 0)
			return -1;
	return 0;
}

static void
mqtt_stop(void *self)
{
	struct mqtt	*m = self;
	size_t		 i;

	for (i = 0; i < m->nlisteners; i++)
		mqtt_listener_stop(m->listeners[i]);
}

static void
mqtt_destroy(void *self)
{
	struct mqtt	*m = self;
	size_t		 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nlisteners; i++)
		mqtt_listener_free(m->listeners[i]);
	free(m->listeners);
	free(m);
}

static int
mqtt_publish(void *self, struct fh_event *ev)
{
	(void)self;
	(void)ev;
	return 0;
}

const struct fh_sink_ops fh_sink_mqtt = {
	.name = "mqtt",
	.create = mqtt_create,
	.configure = mqtt_configure,
	.start = mqtt_start,
	.stop = mqtt_stop,
	.destroy = mqtt_destroy,
	.publish = mqtt_publish,
};
