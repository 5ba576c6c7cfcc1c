/* SPDX-License-Identifier: MIT */
/*
 * The per-task certificate authority that sbx/mitm.c presents to the guest
 * for the hosts that carry a secret.
 *
 * Made at task start: an ECDSA P-256 key (SHA-256 signatures), a
 * self-signed certificate "git-sbx task CA <id>" (CA:TRUE, pathlen 0,
 * keyCertSign|cRLSign, valid from an hour ago for two days).  The private
 * key exists only in this process's memory; the certificate's PEM goes into
 * the guest's trust store.  Leaf certificates (SAN dNSName, or iPAddress
 * for an IP literal; serverAuth; validity inside the CA's) are minted on
 * demand, one P-256 key each, and cached per host name.  Thread-safe.
 */
#ifndef SBX_SBX_TLS_CA_H
#define SBX_SBX_TLS_CA_H

#include <openssl/types.h>

struct sbx_tls_ca;

/* Validity of the CA from its creation, in seconds (leaves end with it). */
#define SBX_TLS_CA_VALIDITY_S (2 * 24 * 3600)
/* Leaves cached per CA; past that a new host is minted but not cached. */
#define SBX_TLS_CA_CACHE_MAX 256

/* A new CA named after `task_id` (a short printable id; NULL: "unnamed"). */
int sbx_tls_ca_new(struct sbx_tls_ca **out, const char *task_id);
/* Frees the key (OpenSSL clears it) and every cached leaf. */
void sbx_tls_ca_free(struct sbx_tls_ca *ca);

/* The CA certificate, PEM, NUL-terminated; valid until sbx_tls_ca_free(). */
const char *sbx_tls_ca_pem(const struct sbx_tls_ca *ca);
/* The CA certificate itself (not a new reference). */
X509 *sbx_tls_ca_cert(const struct sbx_tls_ca *ca);

/*
 * A leaf for `host` (a DNS name, an IPv4 literal, or an IPv6 literal with or
 * without brackets).  *cert and *key are new references: the caller frees
 * them with X509_free() and EVP_PKEY_free().  SBX_EINVAL for a name that is
 * not a valid host name.
 */
int sbx_tls_ca_leaf(X509 **cert, EVP_PKEY **key, struct sbx_tls_ca *ca, const char *host);

/*
 * Set the thread's error from OpenSSL's error queue ("<what>: <reason>"),
 * clearing the queue, and return `code`.
 */
int sbx_tls_error(int code, const char *what);

#endif
