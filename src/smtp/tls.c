/* smtp/tls - server-side TLS context. */
#include "smtp/tls.h"

#include <openssl/err.h>
#include <stdio.h>

static void openssl_error(const char *what, const char *file, char *err, size_t errlen)
{
    char ossl[256];
    ERR_error_string_n(ERR_get_error(), ossl, sizeof ossl);
    snprintf(err, errlen, "%s: %s: %s", file, what, ossl);
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        openssl_error("cannot create TLS context", "openssl", err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Renegotiation and compression only ever helped attackers. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        openssl_error("cannot load certificate", cert, err, errlen);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        openssl_error("cannot load private key", key, err, errlen);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        openssl_error("private key does not match the certificate", key, err, errlen);
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

char *tls_describe(SSL *ssl, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    return buf;
}
