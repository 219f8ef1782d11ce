#include <stdlib.h>

#include <event2/event.h>

#include "gateway/curl.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"

struct curl_xfer {
	CURL		*easy;
	fh_curl_done_cb	 cb;
	void		*arg;
	struct curl_xfer *prev, *next;
};

struct curl_sock {
	struct event	*ev;
};

struct fh_curl {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	int			 running;
	struct curl_xfer	*xfers;	/* so that free() can abort them */
};

static void
curl_unlink(struct fh_curl *c, struct curl_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		c->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
}

static void curl_check_done(struct fh_curl *);

static void
curl_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_curl	*c = arg;
	int		 action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, action, &c->running);
	curl_check_done(c);
}

static void
curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_curl	*c = arg;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0,
	    &c->running);
	curl_check_done(c);
}

static int
curl_timer_fn(CURLM *multi, long timeout_ms, void *arg)
{
	struct fh_curl	*c = arg;
	struct timeval	 tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return 0;
}

static int
curl_socket_fn(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct fh_curl		*c = arg;
	struct curl_sock	*cs = sockp;
	short			 kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL) {
			event_free(cs->ev);
			free(cs);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (cs == NULL) {
		cs = fh_xcalloc(1, sizeof *cs);
		curl_multi_assign(c->multi, s, cs);
	} else
		event_free(cs->ev);
	cs->ev = event_new(c->base, s, kind, curl_event_cb, c);
	event_add(cs->ev, NULL);
	return 0;
}

static void
curl_check_done(struct fh_curl *c)
{
	CURLMsg			*msg;
	int			 left;
	CURL			*easy;
	CURLcode		 rc;
	struct curl_xfer	*x;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;
		x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(c->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		if (x != NULL) {
			fh_curl_done_cb cb = x->cb;
			void *arg = x->arg;

			curl_unlink(c, x);
			free(x);
			cb(easy, rc, arg);
		}
	}
}

struct fh_curl *
fh_curl_create(struct event_base *base)
{
	struct fh_curl	*c = fh_xcalloc(1, sizeof *c);

	c->base = base;
	if ((c->multi = curl_multi_init()) == NULL)
		fh_fatal("curl_multi_init failed");
	c->timer = evtimer_new(base, curl_timer_cb, c);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_fn);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_fn);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

int
fh_curl_add(struct fh_curl *c, CURL *easy, fh_curl_done_cb cb, void *arg)
{
	struct curl_xfer	*x = fh_xcalloc(1, sizeof *x);

	x->easy = easy;
	x->cb = cb;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	if (curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return -1;
	}
	x->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prev = x;
	c->xfers = x;
	return 0;
}

void
fh_curl_cancel(struct fh_curl *c, CURL *easy)
{
	struct curl_xfer	*x = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	if (x == NULL)
		return;
	curl_multi_remove_handle(c->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	curl_unlink(c, x);
	free(x);
}

void
fh_curl_free(struct fh_curl *c)
{
	if (c == NULL)
		return;
	while (c->xfers != NULL)
		fh_curl_cancel(c, c->xfers->easy);
	curl_multi_cleanup(c->multi);
	event_free(c->timer);
	free(c);
}
