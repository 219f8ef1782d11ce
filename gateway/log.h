/* Logging: levels as syslog's, to stderr and optionally to syslog. */
#ifndef FH_LOG_H
#define FH_LOG_H

#include <syslog.h>

void	fh_log_init(const char *ident);
void	fh_log_set_level(int level);	/* LOG_ERR .. LOG_DEBUG */
int	fh_log_get_level(void);
void	fh_log_set_syslog(int on);
int	fh_log_is_enabled(int level);
void	fh_log(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	fh_fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Prefix the calling function's name (OpenSSH's error_f). */
#define fh_log_f(level, fmt, ...) \
	fh_log((level), "%s: " fmt, __func__, ##__VA_ARGS__)

#endif
