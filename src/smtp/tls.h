/* smtp/tls - the OpenSSL server context shared by every TLS listener. */
#ifndef FLOODGATE_SMTP_TLS_H
#define FLOODGATE_SMTP_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* tls_server_ctx - a context with CERT and KEY (PEM), TLS 1.2 or later.
 * NULL with ERR set ("cert.pem: ..."). */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);
/* tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" of SSL into BUF. */
char *tls_describe(SSL *ssl, char *buf, size_t len);

#endif
