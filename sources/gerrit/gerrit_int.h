/*
 * The gerrit source's insides, shared by its three files and nothing
 * else (sources/gerrit/gerrit.h exports only the ops table):
 *   gerrit.c       config, publishing and de-duplication, the ops
 *   gerrit_ssh.c   the SSH connection state machine
 *   gerrit_fill.c  the gap fill from the events-log plugin
 */
#ifndef FH_GERRIT_INT_H
#define FH_GERRIT_INT_H

#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stddef.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <libssh/libssh.h>
#include <libssh/server.h>	/* ssh_send_keepalive(), usable by clients */

#include "gateway/backoff.h"
#include "gateway/conf.h"
#include "gateway/connect.h"
#include "gateway/curl.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/secret.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sources/gerrit/gerrit.h"
#include "sources/gerrit/gerrit_parse.h"

#define GERRIT_COMMAND		"gerrit stream-events"
#define GERRIT_BACKOFF_MIN_MS	1000L
#define GERRIT_KA_MISSED_MAX	3	/* unanswered keepalives: dead */
#define GERRIT_LOGIN_TICKS	3	/* keepalive intervals to log in, */
#define GERRIT_LOGIN_MIN_MS	30000L	/* but at least this */
#define GERRIT_RECENT		8192	/* fingerprints kept for de-dup */
#define GERRIT_QUEUE_MAX	1024	/* live events held during a fill */
#define GERRIT_FILL_PAGES_MAX	1000
#define GERRIT_FILL_TRIES	3
#define GERRIT_FILL_TIMEOUT_S	120L
#define GERRIT_BASELINE_SLACK_S	60
#define GERRIT_CURSOR_KEY	"last_event"
#define GERRIT_CURSOR_FPS	64	/* fingerprints of the newest second */
#define GERRIT_READ_SIZE	65536
#define GERRIT_LOG_BYTES	80	/* of a bad line, in the log */
#define GERRIT_LOG_EVERY_MS	10000L	/* bad-line warnings at most */

enum gerrit_state {
	GERRIT_S_STOPPED,
	GERRIT_S_CONNECTING,
	GERRIT_S_HANDSHAKE,
	GERRIT_S_AUTH,
	GERRIT_S_CHANNEL,
	GERRIT_S_EXEC,
	GERRIT_S_STREAMING,
	GERRIT_S_BACKOFF,
	GERRIT_S_FAILED,
};

extern const char *const gerrit_ssh_state_names[];

struct gerrit_conf {
	char	*host;
	int	 port;
	char	*user;
	char	*key_file;
	char	*known_hosts;
	bool	 host_key_check;
	long	 keepalive;		/* ms */
	long	 backoff_max;		/* ms */
	char	*topic;
	int	 qos;
	bool	 retain;
	size_t	 max_line;
	char	*events_log_url;
	int	 events_log_limit;
	char	*events_log_user;
	char	*events_log_password_file;
};

/* A live event held while a gap fill runs. */
struct gerrit_held {
	char			*topic;
	json_t			*event;
	struct gerrit_held	*next;
};

/* One gap fill: the window, and the page being fetched. */
struct gerrit_fill {
	CURL			*easy;
	char			*url;
	struct gerrit_lines	 lines;
	time_t			 from;		/* the whole window */
	time_t			 t1;		/* this page starts here */
	time_t			 t2;
	int			 page;
	int			 tries;
	long			 status;
	size_t			 page_lines;
	int64_t			 page_last;
	size_t			 published;
	size_t			 duplicates;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 body[128];
	size_t			 bodylen;
};

struct gerrit {
	struct fh_gateway	*gw;
	char			*name;
	struct gerrit_conf	 conf;
	ssh_key			 key;
	char			*password;

	enum gerrit_state	 state;
	struct fh_connect	*conn;		/* TCP on its way */
	int			 fd;		/* ours until libssh has it */
	ssh_session		 ssh;
	ssh_channel		 channel;
	struct event		 io;		/* EV_READ|EV_PERSIST on fd */
	struct event		 wr;		/* EV_WRITE, when output waits */
	struct event		 timer;		/* backoff */
	struct event		 tick;		/* keepalive, login timeout */
	bool			 events_ready;
	bool			 paused;	/* held queue full */
	struct fh_backoff	 backoff;
	struct gerrit_lines	 lines;
	int64_t			 attempt_ms;	/* monotonic */
	int64_t			 last_rx_ms;
	int64_t			 last_bad_log_ms;
	int			 missed;
	bool			 ever_streamed;
	bool			 stderr_logged;
	char			*last_error;	/* logged once per change */
	int64_t			 last_time;	/* newest event (gerrit's s) */
	int64_t			 baseline;	/* first stream start (ours) */
	uint8_t			*readbuf;

	/* gap fill */
	struct fh_curl		*curl;
	struct gerrit_fill	*fill;
	struct event		 fill_timer;
	bool			 fill_pending;
	time_t			 pending_from;
	int64_t			 dedup_until;	/* live events up to: check */
	struct gerrit_held	*held;
	struct gerrit_held	**held_tail;
	size_t			 nheld;
	uint64_t		*recent;	/* ring of fingerprints */
	size_t			 nrecent;
	size_t			 recent_pos;
	/* The cursor kept in the state store: the newest published time and
	 * the fingerprints of what was published in that second. */
	int64_t			 cursor_time;
	uint64_t		 cursor_fps[GERRIT_CURSOR_FPS];
	size_t			 ncursor_fps;

	struct {
		uint64_t	events;
		uint64_t	reconnects;
		uint64_t	parse_errors;
		uint64_t	lines_too_long;
		uint64_t	dropped_output;
		uint64_t	gap_fills;
		uint64_t	gap_events;
		uint64_t	gap_fill_errors;
		uint64_t	duplicates;
		uint64_t	keepalive_timeouts;
	} st;
};

/* gerrit.c: time, the log, publishing and de-duplication. */
void	gerrit_bad_line(struct gerrit *g, const char *where,
    const uint8_t *line, size_t len, int err);
char *	gerrit_excerpt(const uint8_t *p, size_t len);
bool	gerrit_line_event(struct gerrit *g, const char *where,
    const uint8_t *line, size_t len, int err, char **topic, json_t **event);
int64_t	gerrit_gap_start(struct gerrit *g);
void	gerrit_live_line(const uint8_t *line, size_t len, int err, void *arg);
void	gerrit_note_time(struct gerrit *g, const json_t *event);
int64_t	gerrit_now_ms(void);
bool	gerrit_publish(struct gerrit *g, char *topic, json_t *event,
    bool dedup);
void	gerrit_release_held(struct gerrit *g, bool publish);
struct timeval	gerrit_tv(long ms);

/* gerrit_ssh.c: the connection. */
void	gerrit_ssh_connect(struct gerrit *g);
void	gerrit_ssh_disconnect(struct gerrit *g);
void	gerrit_ssh_io_cb(evutil_socket_t fd, short what, void *arg);
void	gerrit_ssh_set_state(struct gerrit *g, enum gerrit_state s);
void	gerrit_ssh_step(struct gerrit *g);
void	gerrit_ssh_tick_cb(evutil_socket_t fd, short what, void *arg);
void	gerrit_ssh_timer_cb(evutil_socket_t fd, short what, void *arg);

/* gerrit_fill.c: the gap fill. */
void	gerrit_fill_free(struct gerrit *g);
void	gerrit_fill_request(struct gerrit *g, time_t from);
void	gerrit_fill_retry_cb(evutil_socket_t fd, short what, void *arg);

#endif
