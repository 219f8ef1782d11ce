/*
 * libFuzzer: the broker's state machine, not only the codec. Each input is
 * one or more whole byte streams, each fed to its own in-memory connection
 * (a bufferevent pair, no sockets) of a fresh broker; the loop runs
 * non-blocking after every piece, so the broker answers, queues, closes
 * and frees as it would on a socket. Whatever the bytes, the broker must
 * neither crash nor leak, and must free everything at the end.
 *
 * Input: one byte of broker settings, then up to FUZZ_CONNS streams
 * separated by FUZZ_SEP. Every stream is one client: CONNECT (3.1, 3.1.1,
 * and 5.0 once the codec speaks it), then whatever follows. The clients
 * share the broker, so one's PUBLISH reaches the others' subscriptions
 * and the same client id takes a session over. Without a gateway the
 * broker sends its clients' PUBLISHes (and wills) straight to its own
 * subscribers.
 *
 * Settings byte:
 *   0x01 allow_anonymous      0x02 anonymous_publish   0x04 retain
 *   0x08 tight limits (1 in flight, 4 queued, 4 KiB queue, small output
 *        caps, 2 KiB packets) instead of roomy ones
 *   0x10 an ACL (user alice; pattern %c)   0x20 a client certificate
 *        with CN "alice" (use_identity_as_username)
 *   0x40 a client that stops reading (slow consumer)
 *   0x80 feed each stream in pieces of 1..7 bytes, not whole
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/log.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"
#include "sinks/mqtt/listener.h"

#define FUZZ_CONNS	4
#define FUZZ_SEP	"\xff\xfe\xfd\xfc"	/* not a packet type */
#define FUZZ_SEP_LEN	4
#define FUZZ_TURNS	8		/* loop turns after each piece */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char fuzz_acl[] =
	"topic read $SYS/#\n"
	"topic readwrite public/#\n"
	"pattern readwrite client/%c/#\n"
	"user alice\n"
	"topic readwrite #\n";

static struct event_base *fuzz_base;

static void
fuzz_turns(void)
{
	int	i;

	for (i = 0; i < FUZZ_TURNS; i++)
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
}

static void
fuzz_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
}

static struct mqtt_broker *
fuzz_broker_create(uint8_t flags)
{
	struct mqtt_broker_conf	 conf;
	struct mqtt_broker	*b;
	struct mqtt_auth	*auth;
	char			*err = NULL;
	bool			 tight = flags & 0x08;

	memset(&conf, 0, sizeof conf);
	conf.allow_anonymous = flags & 0x01;
	conf.anonymous_publish = flags & 0x02;
	conf.retain = flags & 0x04;
	conf.max_topic_alias = 10;
	conf.max_packet_size = tight ? 2048 : 1 << 20;
	conf.max_queued_messages = tight ? 4 : 1000;
	conf.max_queued_bytes = tight ? 4096 : 0;
	conf.max_memory = tight ? 64 * 1024 : 0;
	conf.max_inflight_messages = tight ? 1 : 20;
	conf.max_output_buffer = tight ? 2048 : 0;
	conf.max_output_buffer_hard = tight ? 16384 : 0;
	conf.connect_timeout = 10000;
	b = mqtt_broker_create(NULL, &conf);
	/* no gateway: the fuzzer's own loop (the private header allows it) */
	b->base = fuzz_base;
	if (flags & 0x10) {
		auth = mqtt_auth_create();
		if (mqtt_auth_parse_acl(auth, "fuzz", fuzz_acl,
		    sizeof fuzz_acl - 1, &err) != 0)
			abort();
		mqtt_broker_set_auth(b, auth);
	}
	mqtt_broker_start(b);
	return b;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bufferevent	*pair[FUZZ_CONNS][2];
	struct mqtt_broker	*b;
	struct mqtt_peer	 peer;
	const uint8_t		*p, *end, *sep;
	size_t			 len, off, piece;
	uint8_t			 flags;
	int			 n, i;

	if (fuzz_base == NULL) {
		/* quiet; FUZZ_BROKER_LOG=1 formats (and prints) every line */
		fh_log_set_level(getenv("FUZZ_BROKER_LOG") ? LOG_DEBUG :
		    LOG_ERR - 1);
		fuzz_base = event_base_new();
	}
	if (size < 1)
		return 0;
	flags = data[0];
	b = fuzz_broker_create(flags);
	memset(&peer, 0, sizeof peer);
	peer.listener = "fuzz";
	peer.protocol = "mqtt";
	peer.addr = "127.0.0.1:1";
	peer.cert_cn = (flags & 0x20) ? "alice" : NULL;

	p = data + 1;
	end = data + size;
	for (n = 0; n < FUZZ_CONNS && p <= end; n++) {
		sep = memmem(p, (size_t)(end - p), FUZZ_SEP, FUZZ_SEP_LEN);
		len = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);
		if (bufferevent_pair_new(fuzz_base, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS, pair[n]) != 0)
			abort();
		mqtt_broker_accept(pair[n][0], &peer, b);
		bufferevent_setcb(pair[n][1], fuzz_client_read_cb, NULL, NULL,
		    NULL);
		if ((flags & 0x40) && n == 0)
			bufferevent_disable(pair[n][1], EV_READ);
		else
			bufferevent_enable(pair[n][1], EV_READ);
		for (off = 0; off < len; off += piece) {
			piece = (flags & 0x80) ? 1 + (size_t)(p[off] & 0x07) : len;
			if (piece > len - off)
				piece = len - off;
			bufferevent_write(pair[n][1], p + off, piece);
			fuzz_turns();
		}
		fuzz_turns();
		if (sep == NULL)
			break;
		p = sep + FUZZ_SEP_LEN;
	}
	if (n == FUZZ_CONNS)
		n--;
	/* every client goes away without DISCONNECT: wills, session detach */
	for (i = 0; i <= n; i++) {
		bufferevent_flush(pair[i][1], EV_WRITE, BEV_FINISHED);
		fuzz_turns();
		bufferevent_free(pair[i][1]);
		fuzz_turns();
	}
	mqtt_broker_free(b);
	fuzz_turns();
	return 0;
}
