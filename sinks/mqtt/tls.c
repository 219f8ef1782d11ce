/* OpenSSL server contexts for the mqtts and wss listeners. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "gateway/xmalloc.h"
#include "sinks/mqtt/tls.h"

static const struct {
	const char	*name;
	int		 version;
} tls_versions[] = {
	{ "tlsv1.2", TLS1_2_VERSION },
	{ "tlsv1.3", TLS1_3_VERSION },
	{ NULL, 0 }
};

int
tls_version_parse(const char *s, int *version)
{
	int	i;

	for (i = 0; tls_versions[i].name != NULL; i++)
		if (strcasecmp(s, tls_versions[i].name) == 0) {
			*version = tls_versions[i].version;
			return 0;
		}
	return -1;
}

const char *
tls_last_error(char *buf, size_t len)
{
	unsigned long	e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Fail early and clearly for a file that is missing or unreadable. */
static int
tls_check_file(const char *path, char **errstr)
{
	if (access(path, R_OK) != 0) {
		*errstr = fh_xasprintf("cannot read '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_ctx_create(const struct tls_opts *o, const char **key, char **errstr)
{
	SSL_CTX	*ctx;
	char	 ebuf[256];
	int	 version;

	*key = NULL;
	if (o->cert_file == NULL || *o->cert_file == '\0') {
		*key = "cert_file";
		*errstr = fh_xstrdup("cert_file is required for a TLS listener");
		return NULL;
	}
	if (o->key_file == NULL || *o->key_file == '\0') {
		*key = "key_file";
		*errstr = fh_xstrdup("key_file is required for a TLS listener");
		return NULL;
	}
	if (tls_version_parse(o->tls_version, &version) != 0) {
		*key = "tls_version";
		*errstr = fh_xasprintf("bad tls_version '%s': expected tlsv1.2 "
		    "or tlsv1.3", o->tls_version);
		return NULL;
	}
	if (tls_check_file(o->cert_file, errstr) != 0) {
		*key = "cert_file";
		return NULL;
	}
	if (tls_check_file(o->key_file, errstr) != 0) {
		*key = "key_file";
		return NULL;
	}
	if (o->ca_file != NULL && *o->ca_file != '\0' &&
	    tls_check_file(o->ca_file, errstr) != 0) {
		*key = "ca_file";
		return NULL;
	}
	if (o->require_certificate && (o->ca_file == NULL ||
	    *o->ca_file == '\0')) {
		*key = "require_certificate";
		*errstr = fh_xstrdup("require_certificate needs ca_file");
		return NULL;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*errstr = fh_xasprintf("SSL_CTX_new: %s",
		    tls_last_error(ebuf, sizeof ebuf));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
		*key = "ciphers";
		*errstr = fh_xasprintf("bad cipher list '%s': %s", o->ciphers,
		    tls_last_error(ebuf, sizeof ebuf));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
		*key = "cert_file";
		*errstr = fh_xasprintf("cannot load certificate '%s': %s",
		    o->cert_file, tls_last_error(ebuf, sizeof ebuf));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file,
	    SSL_FILETYPE_PEM) != 1) {
		*key = "key_file";
		*errstr = fh_xasprintf("cannot load private key '%s': %s",
		    o->key_file, tls_last_error(ebuf, sizeof ebuf));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*key = "key_file";
		*errstr = fh_xasprintf("private key '%s' does not match "
		    "certificate '%s'", o->key_file, o->cert_file);
		ERR_clear_error();
		goto fail;
	}
	if (o->ca_file != NULL && *o->ca_file != '\0') {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, o->ca_file,
		    NULL) != 1) {
			*key = "ca_file";
			*errstr = fh_xasprintf("cannot load CA file '%s': %s",
			    o->ca_file, tls_last_error(ebuf, sizeof ebuf));
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(o->ca_file)) != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    (o->require_certificate ?
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	}
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

char *
tls_peer_cn(SSL *ssl)
{
	X509		*cert;
	X509_NAME	*name;
	char		 buf[256];
	int		 n;

	if ((cert = SSL_get_peer_certificate(ssl)) == NULL)
		return NULL;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(cert);
		return NULL;
	}
	name = X509_get_subject_name(cert);
	n = X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf);
	X509_free(cert);
	if (n <= 0 || (size_t)n != strlen(buf))
		return NULL;		/* absent, or an embedded NUL */
	return fh_xstrdup(buf);
}
