// SPDX-License-Identifier: MIT
#include "sbx/tls-ca.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct leaf {
	char *host;
	X509 *cert;
	EVP_PKEY *key;
};

struct sbx_tls_ca {
	EVP_PKEY *key;
	X509 *cert;
	char *pem;
	time_t not_before, not_after;
	pthread_mutex_t lock;
	struct leaf *leaves;
	size_t nleaves;
};

int sbx_tls_error(int code, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (!e) {
		ERR_clear_error();
		return sbx_error_set(code, "%s", what);
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return sbx_error_set(code, "%s: %s", what, buf);
}

/* A random positive 127-bit serial (RFC 5280 4.1.2.2: at most 20 octets, positive). */
static int set_serial(X509 *x)
{
	unsigned char rnd[16];
	BIGNUM *bn = NULL;
	int ok;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return sbx_tls_error(SBX_ERROR, "cannot make a certificate serial");
	rnd[0] &= 0x7f;
	rnd[0] |= 0x40;
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : sbx_tls_error(SBX_ENOMEM, "cannot set a certificate serial");
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return sbx_tls_error(SBX_ERROR, "cannot make a certificate extension");
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : sbx_tls_error(SBX_ENOMEM, "cannot add a certificate extension");
}

static int set_name(X509_NAME *n, const char *cn)
{
	if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"git-sbx", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		return sbx_tls_error(SBX_ERROR, "cannot set a certificate name");
	return 0;
}

static int new_key(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-256");
	return *out ? 0 : sbx_tls_error(SBX_ERROR, "cannot make a P-256 key");
}

static int set_validity(X509 *x, time_t nb, time_t na)
{
	if (!ASN1_TIME_set(X509_getm_notBefore(x), nb) || !ASN1_TIME_set(X509_getm_notAfter(x), na))
		return sbx_tls_error(SBX_ERROR, "cannot set a certificate's validity");
	return 0;
}

int sbx_tls_ca_new(struct sbx_tls_ca **out, const char *task_id)
{
	struct sbx_tls_ca *ca;
	char cn[64];
	BIO *bio = NULL;
	BUF_MEM *mem;
	int err;

	*out = NULL;
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	pthread_mutex_init(&ca->lock, NULL);
	snprintf(cn, sizeof(cn), "git-sbx task CA %s", task_id ? task_id : "unnamed");
	/* An hour of slack for a guest clock that lags a little. */
	ca->not_before = time(NULL) - 3600;
	ca->not_after = ca->not_before + 3600 + SBX_TLS_CA_VALIDITY_S;
	if ((err = new_key(&ca->key)))
		goto out;
	ca->cert = X509_new();
	if (!ca->cert) {
		err = sbx_tls_error(SBX_ENOMEM, "cannot make the task CA");
		goto out;
	}
	if (!X509_set_version(ca->cert, X509_VERSION_3)) {
		err = sbx_tls_error(SBX_ERROR, "cannot make the task CA");
		goto out;
	}
	if ((err = set_serial(ca->cert)) || (err = set_name(X509_get_subject_name(ca->cert), cn)) ||
	    (err = set_name(X509_get_issuer_name(ca->cert), cn)) ||
	    (err = set_validity(ca->cert, ca->not_before, ca->not_after)))
		goto out;
	if (!X509_set_pubkey(ca->cert, ca->key)) {
		err = sbx_tls_error(SBX_ERROR, "cannot make the task CA");
		goto out;
	}
	if ((err = add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) ||
	    (err = add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
	    (err = add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash")))
		goto out;
	if (!X509_sign(ca->cert, ca->key, EVP_sha256())) {
		err = sbx_tls_error(SBX_ERROR, "cannot sign the task CA");
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_X509(bio, ca->cert)) {
		err = sbx_tls_error(SBX_ENOMEM, "cannot write the task CA");
		goto out;
	}
	BIO_get_mem_ptr(bio, &mem);
	ca->pem = strndup(mem->data, mem->length);
	if (!ca->pem) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	*out = ca;
	ca = NULL;
	err = 0;
out:
	BIO_free(bio);
	sbx_tls_ca_free(ca);
	return err;
}

void sbx_tls_ca_free(struct sbx_tls_ca *ca)
{
	size_t i;

	if (!ca)
		return;
	for (i = 0; i < ca->nleaves; i++) {
		free(ca->leaves[i].host);
		X509_free(ca->leaves[i].cert);
		EVP_PKEY_free(ca->leaves[i].key);
	}
	free(ca->leaves);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->pem);
	pthread_mutex_destroy(&ca->lock);
	free(ca);
}

const char *sbx_tls_ca_pem(const struct sbx_tls_ca *ca)
{
	return ca->pem;
}

X509 *sbx_tls_ca_cert(const struct sbx_tls_ca *ca)
{
	return ca->cert;
}

/* RFC 1123 labels: letters, digits, hyphens, not at a label's ends; 253 bytes at most. */
static bool valid_dns_name(const char *h)
{
	size_t len = strlen(h), label = 0, i;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[len - 1] != '-';
}

/* The SAN: an IP literal as iPAddress, otherwise a dNSName. Lower-cases `name` for the CN. */
static int make_san(GENERAL_NAMES **out, const char *host, char *name, size_t namesz)
{
	unsigned char ip[16];
	size_t len = strlen(host), iplen = 0;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gen = NULL;
	int err = SBX_ENOMEM;

	*out = NULL;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= namesz)
			return sbx_error_set(SBX_EINVAL, "bad host name for a certificate");
		memcpy(name, host + 1, len - 2);
		name[len - 2] = '\0';
		if (inet_pton(AF_INET6, name, ip) != 1)
			return sbx_error_set(SBX_EINVAL, "bad IPv6 literal '%s' for a certificate", name);
		iplen = 16;
	} else {
		if (len >= namesz)
			return sbx_error_set(SBX_EINVAL, "host name too long for a certificate");
		memcpy(name, host, len + 1);
		if (inet_pton(AF_INET, name, ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, name, ip) == 1)
			iplen = 16;
		else if (!valid_dns_name(name))
			return sbx_error_set(SBX_EINVAL, "bad host name for a certificate");
	}
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	gens = GENERAL_NAMES_new();
	gen = GENERAL_NAME_new();
	if (!gens || !gen)
		goto fail;
	if (iplen) {
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

		if (!os || !ASN1_OCTET_STRING_set(os, ip, (int)iplen)) {
			ASN1_OCTET_STRING_free(os);
			goto fail;
		}
		GENERAL_NAME_set0_value(gen, GEN_IPADD, os);
	} else {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (!s || !ASN1_STRING_set(s, name, -1)) {
			ASN1_IA5STRING_free(s);
			goto fail;
		}
		GENERAL_NAME_set0_value(gen, GEN_DNS, s);
	}
	if (!sk_GENERAL_NAME_push(gens, gen))
		goto fail;
	*out = gens;
	return 0;
fail:
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return sbx_tls_error(err, "cannot make a certificate's subject alternative name");
}

static int mint(X509 **cert, EVP_PKEY **key, struct sbx_tls_ca *ca, const char *host, char *name)
{
	GENERAL_NAMES *san = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	char cn[64];
	int err;

	if ((err = make_san(&san, host, name, 256)))
		return err;
	if ((err = new_key(&k)))
		goto out;
	x = X509_new();
	if (!x || !X509_set_version(x, X509_VERSION_3)) {
		err = sbx_tls_error(SBX_ENOMEM, "cannot make a certificate");
		goto out;
	}
	/* A CN is at most 64 characters (RFC 5280 ub-common-name); the SAN carries the name. */
	snprintf(cn, sizeof(cn), "%s", name);
	if ((err = set_serial(x)) || (err = set_name(X509_get_subject_name(x), cn)) ||
	    (err = set_validity(x, ca->not_before, ca->not_after)))
		goto out;
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) || !X509_set_pubkey(x, k) ||
	    !X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT)) {
		err = sbx_tls_error(SBX_ERROR, "cannot make a certificate");
		goto out;
	}
	if ((err = add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE")) ||
	    (err = add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature")) ||
	    (err = add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth")) ||
	    (err = add_ext(x, ca->cert, NID_subject_key_identifier, "hash")) ||
	    (err = add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always")))
		goto out;
	if (!X509_sign(x, ca->key, EVP_sha256())) {
		err = sbx_tls_error(SBX_ERROR, "cannot sign a certificate");
		goto out;
	}
	*cert = x;
	*key = k;
	x = NULL;
	k = NULL;
out:
	GENERAL_NAMES_free(san);
	X509_free(x);
	EVP_PKEY_free(k);
	return err;
}

int sbx_tls_ca_leaf(X509 **cert, EVP_PKEY **key, struct sbx_tls_ca *ca, const char *host)
{
	char name[256];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	struct leaf *nl;
	size_t i;
	int err = 0;

	*cert = NULL;
	*key = NULL;
	pthread_mutex_lock(&ca->lock);
	for (i = 0; i < ca->nleaves; i++)
		if (!strcasecmp(ca->leaves[i].host, host)) {
			x = ca->leaves[i].cert;
			k = ca->leaves[i].key;
			goto found;
		}
	/* Minting under the lock: a few milliseconds, once per host per task. */
	if ((err = mint(&x, &k, ca, host, name)))
		goto out;
	if (ca->nleaves < SBX_TLS_CA_CACHE_MAX &&
	    (nl = realloc(ca->leaves, (ca->nleaves + 1) * sizeof(*nl)))) {
		ca->leaves = nl;
		nl[ca->nleaves].host = strdup(host);
		if (nl[ca->nleaves].host) {
			nl[ca->nleaves].cert = x;
			nl[ca->nleaves].key = k;
			ca->nleaves++;
			goto found;
		}
	}
	/* Not cached: hand over the only references. */
	*cert = x;
	*key = k;
	goto out;
found:
	if (!X509_up_ref(x) || !EVP_PKEY_up_ref(k)) {
		err = sbx_tls_error(SBX_ERROR, "cannot reference a certificate");
		goto out;
	}
	*cert = x;
	*key = k;
out:
	pthread_mutex_unlock(&ca->lock);
	return err;
}
