/* TLS for the mqtts and wss listeners: OpenSSL contexts, peer identity. */
#ifndef MQTT_TLS_H
#define MQTT_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

struct tls_opts {
	const char	*cert_file;	/* PEM, may hold a chain */
	const char	*key_file;
	const char	*ca_file;	/* client certificates, "" none */
	bool		 require_certificate;
	const char	*tls_version;	/* floor: tlsv1.2 | tlsv1.3 */
	const char	*ciphers;	/* TLS <= 1.2 cipher list */
};

#define TLS_DEFAULT_VERSION	"tlsv1.2"
#define TLS_DEFAULT_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:" \
				"!aNULL:!eNULL:!MD5:!RC4:!3DES"

/* 0, or -1 with *errstr when the name is not a known version. */
int	 tls_version_parse(const char *, int *version);
/*
 * A server context from opts; every file is read now, so a missing or
 * unreadable file, a key that does not match the certificate or a bad
 * cipher list fails here. On error returns NULL and sets *key to the
 * config key at fault and *errstr to the message (caller adds file:line).
 */
SSL_CTX	*tls_ctx_create(const struct tls_opts *, const char **key,
	    char **errstr);
/* The peer certificate's subject CN (malloc'd), or NULL. */
char	*tls_peer_cn(SSL *);
/* The last OpenSSL error as text, clearing the queue. */
const char *tls_last_error(char *buf, size_t len);

#endif
