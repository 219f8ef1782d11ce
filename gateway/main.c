/* firehosed: start-up, signals, reload. Everything else lives in libfh. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

#include "config.h"
#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/privdrop.h"
#include "gateway/sdnotify.h"
#include "gateway/xmalloc.h"

#define MAIN_DEFAULT_CONFIG SYSCONFDIR "/firehose/firehose.conf"

struct main_ctx {
	struct event_base	*base;
	struct fh_gateway	*gw;
	struct fh_sdnotify	*sd;
	const char		*path;	/* NULL: embedded default */
};

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: firehosed [-c FILE] [-t] [-v] [--version] [--help]\n"
	    "  -c, --config FILE   read FILE (default: %s;\n"
	    "                      with no file at all: the embedded default)\n"
	    "  -t, --test-config   check the config, print what is wrong, "
	    "exit 0 or 1\n"
	    "  -v, --verbose       log level debug\n"
	    "      --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n",
	    MAIN_DEFAULT_CONFIG);
}

static struct fh_conf *
main_load(const char *path, char **errstr)
{
	struct fh_conf	*conf;
	char		*def;

	if (path != NULL)
		return fh_conf_load(path, errstr);
	def = fh_gateway_default_config();
	conf = fh_conf_parse("(embedded default)", def, strlen(def), errstr);
	free(def);
	return conf;
}

static void
main_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_ctx	*ctx = arg;

	(void)what;
	fh_log(LOG_INFO, "%s: stopping", strsignal(sig));
	fh_sdnotify(ctx->sd, "STOPPING=1");
	fh_gateway_stop(ctx->gw);
	event_base_loopexit(ctx->base, NULL);
}

static void
main_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_ctx	*ctx = arg;
	struct fh_conf	*conf;
	char		*err = NULL;

	(void)sig;
	(void)what;
	fh_log(LOG_INFO, "SIGHUP: reloading %s",
	    ctx->path ? ctx->path : "the embedded default");
	fh_sdnotify_reloading(ctx->sd);
	if ((conf = main_load(ctx->path, &err)) == NULL ||
	    fh_gateway_reload(ctx->gw, conf, &err) != 0) {
		fh_log(LOG_ERR, "reload failed, that part keeps its old "
		    "settings: %s", err);
		/* Still serving with the old settings: ready again. */
		fh_sdnotify(ctx->sd, "READY=1\nSTATUS=reload failed: %s",
		    err);
		free(err);
	} else {
		fh_log(LOG_INFO, "reload done");
		fh_sdnotify(ctx->sd, "READY=1\nSTATUS=serving (reloaded)");
	}
	fh_conf_free(conf);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test-config", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct main_ctx	 ctx = { 0 };
	struct fh_conf	*conf;
	struct event	*ev_term, *ev_int, *ev_hup;
	sigset_t	 stopsigs;
	char		*err = NULL;
	int		 ch, test_only = 0, rc = 0;

	while ((ch = getopt_long(argc, argv, "c:tvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			ctx.path = optarg;
			break;
		case 't':
			test_only = 1;
			break;
		case 'v':
			fh_log_set_level(LOG_DEBUG);
			break;
		case 'V':
			printf("firehosed %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	if (ctx.path == NULL && access(MAIN_DEFAULT_CONFIG, F_OK) == 0)
		ctx.path = MAIN_DEFAULT_CONFIG;

	fh_log_init("firehosed");
	signal(SIGPIPE, SIG_IGN);
	OPENSSL_init_ssl(0, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	fh_ioloop_init();	/* before the first base */
	if ((ctx.base = event_base_new()) == NULL)
		fh_fatal("event_base_new failed");
	if ((conf = main_load(ctx.path, &err)) == NULL ||
	    (ctx.gw = fh_gateway_create(ctx.base, conf, &err)) == NULL ||
	    fh_privdrop_check(fh_gateway_user(ctx.gw), &err) != 0) {
		if (test_only)
			printf("%s\n", err);
		else
			fh_log(LOG_ERR, "%s", err);
		free(err);
		fh_conf_free(conf);
		fh_gateway_free(ctx.gw);
		event_base_free(ctx.base);
		curl_global_cleanup();
		return 1;
	}
	fh_conf_free(conf);
	if (test_only) {
		printf("%s: configuration OK\n",
		    ctx.path ? ctx.path : "(embedded default)");
		goto out;
	}

	/* Before the privileges go: the socket may be root's only. */
	ctx.sd = fh_sdnotify_open(ctx.base);
	ev_term = evsignal_new(ctx.base, SIGTERM, main_stop_cb, &ctx);
	ev_int = evsignal_new(ctx.base, SIGINT, main_stop_cb, &ctx);
	ev_hup = evsignal_new(ctx.base, SIGHUP, main_reload_cb, &ctx);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);

	/* Listeners are bound and the store is open once start returns:
	 * that is all that needs root. */
	if (fh_gateway_start(ctx.gw) != 0) {
		rc = 1;
	} else if (fh_privdrop(fh_gateway_user(ctx.gw),
	    fh_gateway_state_dir(ctx.gw), &err) != 0) {
		fh_log(LOG_ERR, "%s", err);
		free(err);
		rc = 1;
	} else {
		fh_log(LOG_INFO, "firehosed %s started (%s)", PACKAGE_VERSION,
		    ctx.path ? ctx.path : "embedded default config");
		/* The first ping too: start-up ran outside the loop. */
		fh_sdnotify(ctx.sd, "READY=1\nSTATUS=serving%s",
		    fh_sdnotify_watchdog_usec(ctx.sd) ? "\nWATCHDOG=1" : "");
		event_base_dispatch(ctx.base);
	}
	/* Stopping now: a second SIGTERM or SIGINT (an impatient operator,
	 * a supervisor), or a SIGHUP, must not kill us halfway through
	 * persisting state.
	 * Freeing the events puts back the default action, so hold the
	 * signals until they are ignored. */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &stopsigs, NULL);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);
	fh_sdnotify_free(ctx.sd);
out:
	fh_gateway_free(ctx.gw);
	event_base_free(ctx.base);
	curl_global_cleanup();
	/* -t started nothing, so it says nothing of stopping. */
	if (!test_only)
		fh_log(LOG_INFO, "stopped");
	return rc;
}
