/*
 * Authentication and authorisation in Mosquitto's file formats:
 * password_file (user:$6$salt$hash or user:$7$iter$salt$hash, as written
 * by mosquitto_passwd) and acl_file (topic/user/pattern lines).
 *
 * The parsers are pure (mqtt_auth_parse_*) and unit tested; loading reads
 * the files whole. An auth object is immutable: SIGHUP builds a new one and
 * the broker swaps it in.
 */
#ifndef MQTT_AUTH_H
#define MQTT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mqtt_auth;

#define MQTT_ACL_READ	0x01
#define MQTT_ACL_WRITE	0x02

/* Either path may be NULL or "". errstr gets "file:line: message". */
struct mqtt_auth	*mqtt_auth_load(const char *password_file,
			    const char *acl_file, char **errstr);
struct mqtt_auth	*mqtt_auth_create(void);
void			 mqtt_auth_free(struct mqtt_auth *);

/* Parse file contents into a (the name is only for error messages). */
int	mqtt_auth_parse_passwords(struct mqtt_auth *, const char *name,
	    const char *buf, size_t len, char **errstr);
int	mqtt_auth_parse_acl(struct mqtt_auth *, const char *name,
	    const char *buf, size_t len, char **errstr);

bool	mqtt_auth_has_passwords(const struct mqtt_auth *);
bool	mqtt_auth_has_acl(const struct mqtt_auth *);
size_t	mqtt_auth_user_count(const struct mqtt_auth *);

/* 0 when user exists and password matches its hash, else -1. */
int	mqtt_auth_check_password(const struct mqtt_auth *, const char *user,
	    const uint8_t *pw, size_t len);

/*
 * May this client (user NULL: anonymous) read or write topic? Without an
 * acl_file everything is allowed (the broker applies anonymous_publish
 * itself).
 */
bool	mqtt_auth_acl_check(const struct mqtt_auth *, const char *user,
	    const char *client_id, const char *topic, int access);

/*
 * Could a subscription to filter ever receive anything: is some topic it
 * matches readable for this client? False when no read rule meets the
 * filter or a deny rule covers all of it (SUBACK then refuses it).
 */
bool	mqtt_auth_acl_filter_possible(const struct mqtt_auth *,
	    const char *user, const char *client_id, const char *filter);

#endif
