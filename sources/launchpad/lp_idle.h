/*
 * The IMAP IDLE watcher: libcurl has no IDLE, so a second, tiny IMAP
 * connection (a bufferevent, TLS through bufferevent_openssl) logs in,
 * EXAMINEs the mailbox, IDLEs, and reports "* N EXISTS". It never reads
 * mail; the libcurl side does. Reconnects with backoff on its own.
 */
#ifndef LP_IDLE_H
#define LP_IDLE_H

#include <openssl/ssl.h>

struct fh_gateway;
struct lp_idle;

enum lp_idle_event {
	LP_IDLE_UP,		/* idling: mail may have come meanwhile */
	LP_IDLE_NEW_MAIL,	/* EXISTS / RECENT */
	LP_IDLE_DOWN,		/* lost; reconnecting with backoff */
	LP_IDLE_UNSUPPORTED,	/* no IDLE capability: gave up, poll */
};

typedef void (*lp_idle_cb)(void *arg, enum lp_idle_event, const char *why);

struct lp_idle_conf {
	const char	*host;		/* without [] */
	int		 port;
	SSL_CTX		*ssl;		/* NULL: plain */
	const char	*user;
	const char	*password;
	const char	*mailbox;
	long		 backoff_max_ms;
	long		 reidle_ms;	/* DONE, IDLE again (< 29m) */
};

/* Connects through the gateway's resolver and connect helper. */
struct lp_idle	*lp_idle_create(struct fh_gateway *,
		    const struct lp_idle_conf *, lp_idle_cb, void *arg);
void		 lp_idle_free(struct lp_idle *);	/* NULL-safe */
/* A new password (SIGHUP), for the next login. */
void		 lp_idle_set_password(struct lp_idle *, const char *);

#endif
