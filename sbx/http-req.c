// SPDX-License-Identifier: MIT
/*
 * The proxy's request-head parser (see http-req.h).  Facts from RFC 9110
 * (fields, tokens) and RFC 9112 (message syntax, request targets, framing,
 * §6.3 on Transfer-Encoding with Content-Length, §11.2 on smuggling).
 */
#include "sbx/http-req.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

long sbx_http_head_end(struct sbx_http_scan *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (len > SBX_HTTP_HEAD_MAX + 1)
		len = SBX_HTTP_HEAD_MAX + 1;
	for (; s->pos < len; s->pos++) {
		unsigned char c = p[s->pos];
		size_t line_len = s->pos - s->line_start;

		if (s->pos >= SBX_HTTP_HEAD_MAX)
			return sbx_error_set(SBX_ELIMIT, "request head longer than %d bytes",
					     SBX_HTTP_HEAD_MAX);
		if (c == 0)
			return SBX_CORRUPT("NUL byte in the request head");
		if (line_len + 1 > (s->lines ? SBX_HTTP_FIELD_MAX : SBX_HTTP_LINE_MAX))
			return sbx_error_set(SBX_ELIMIT, "%s longer than %d bytes",
					     s->lines ? "header field" : "request line",
					     s->lines ? SBX_HTTP_FIELD_MAX : SBX_HTTP_LINE_MAX);
		if (c == '\r') {
			if (s->pos + 1 >= len)
				return 0;	/* the LF may come next */
			if (p[s->pos + 1] != '\n')
				return SBX_CORRUPT("bare CR in the request head");
			continue;
		}
		if (c != '\n')
			continue;
		if (s->pos == 0 || p[s->pos - 1] != '\r')
			return SBX_CORRUPT("bare LF in the request head");
		if (line_len == 1) {	/* just CRLF: the empty line */
			if (!s->lines)
				return SBX_CORRUPT("empty request line");
			s->pos++;
			return (long)s->pos;
		}
		if (s->lines > SBX_HTTP_FIELDS_MAX)
			return sbx_error_set(SBX_ELIMIT, "more than %d header fields",
					     SBX_HTTP_FIELDS_MAX);
		s->lines++;
		s->line_start = s->pos + 1;
	}
	return 0;
}

static bool is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_digits(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A strict dotted quad: four decimal parts 0-255, no leading zeros. */
static bool is_dotted_quad(const char *s, size_t n)
{
	size_t i = 0, parts = 0;

	while (parts < 4) {
		size_t start = i;
		unsigned v = 0;

		while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return false;
		parts++;
		if (parts < 4) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

int sbx_http_host_normalize(char out[SBX_HTTP_HOST_MAX], const char *host, size_t len)
{
	size_t i, label = 0, last_label = 0;

	if (!len)
		return SBX_CORRUPT("empty host");
	if (len >= SBX_HTTP_HOST_MAX)
		return SBX_CORRUPT("host longer than %d bytes", SBX_HTTP_HOST_MAX - 1);
	if (memchr(host, ':', len)) {
		struct in6_addr a;
		char tmp[SBX_HTTP_HOST_MAX];

		for (i = 0; i < len; i++)
			if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
				return SBX_CORRUPT("bad IPv6 literal (zone identifiers are not supported)");
		memcpy(tmp, host, len);
		tmp[len] = 0;
		if (inet_pton(AF_INET6, tmp, &a) != 1 || !inet_ntop(AF_INET6, &a, out, SBX_HTTP_HOST_MAX))
			return SBX_CORRUPT("bad IPv6 literal");
		return SBX_HOST_IPV6;
	}
	if (host[len - 1] == '.')
		len--;	/* "example.com." is "example.com" */
	if (!len || len > 253)
		return SBX_CORRUPT("bad host name length");
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)host[i] : '.';

		if (c == '.') {
			if (i == label || i - label > 63)
				return SBX_CORRUPT("bad label length in host name");
			if (host[label] == '-' || host[i - 1] == '-')
				return SBX_CORRUPT("host name label starts or ends with '-'");
			last_label = label;
			label = i + 1;
			if (i < len)
				out[i] = '.';
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return SBX_CORRUPT("bad character 0x%02x in host name", c);
		out[i] = (char)tolower(c);
	}
	out[len] = 0;
	/*
	 * A name whose last label is numeric or hex is an IPv4 address to
	 * getaddrinfo() and to URL parsers ("127.1", "0x7f.0.0.1",
	 * "2130706433"): only the strict dotted quad is an address here.
	 */
	if (is_digits(out + last_label, len - last_label) ||
	    (len - last_label > 1 && out[last_label] == '0' && out[last_label + 1] == 'x')) {
		if (!is_dotted_quad(out, len))
			return SBX_CORRUPT("numeric host that is not a dotted-quad IPv4 address");
		return SBX_HOST_IPV4;
	}
	return SBX_HOST_NAME;
}

/* host[:port] or [v6][:port]; `need_port` for the CONNECT authority form. */
static int parse_authority(char host[SBX_HTTP_HOST_MAX], int *type, uint16_t *port,
			   bool *has_port, const char *s, size_t n)
{
	const char *h = s, *colon = NULL;
	size_t hn;
	uint64_t v = 0;
	size_t i;
	int ret;

	*has_port = false;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return SBX_CORRUPT("IPv6 literal without ']'");
		h = s + 1;
		hn = (size_t)(close - h);
		if (close + 1 < s + n) {
			if (close[1] != ':')
				return SBX_CORRUPT("junk after IPv6 literal");
			colon = close + 1;
		}
		if (!memchr(h, ':', hn))
			return SBX_CORRUPT("brackets around a host that is not IPv6");
	} else {
		colon = memchr(s, ':', n);
		hn = colon ? (size_t)(colon - s) : n;
		if (colon && memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
			return SBX_CORRUPT("IPv6 literal without brackets");
	}
	ret = sbx_http_host_normalize(host, h, hn);
	if (ret < 0)
		return ret;
	*type = ret;
	if (*type == SBX_HOST_IPV6 && s[0] != '[')
		return SBX_CORRUPT("IPv6 literal without brackets");
	if (!colon)
		return 0;
	colon++;
	n = (size_t)(s + n - colon);
	if (!n || n > 5 || !is_digits(colon, n))
		return SBX_CORRUPT("bad port");
	for (i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(colon[i] - '0');
	if (v == 0 || v > 65535)
		return SBX_CORRUPT("port out of range");
	*port = (uint16_t)v;
	*has_port = true;
	return 0;
}

static int parse_target(struct sbx_http_req *r, char *t, size_t n, char *path_out)
{
	bool has_port;
	int type = 0, ret;
	size_t i, alen;

	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return SBX_CORRUPT("bad byte 0x%02x in request target", (unsigned char)t[i]);
	if (r->form == SBX_HTTP_CONNECT) {
		if (memchr(t, '/', n) || memchr(t, '@', n))
			return SBX_CORRUPT("CONNECT target is not host:port");
		ret = parse_authority(r->host, &type, &r->port, &has_port, t, n);
		if (ret < 0)
			return ret;
		if (!has_port)
			return SBX_CORRUPT("CONNECT target without a port");
		r->host_type = type;
		return 0;
	}
	if (n && (t[0] == '/' || t[0] == '*'))
		return sbx_error_set(SBX_EUNSUPPORTED,
				     "origin-form request sent to the proxy (use an absolute http:// URL or CONNECT)");
	if (n >= 8 && !strncasecmp(t, "https://", 8))
		return sbx_error_set(SBX_EUNSUPPORTED, "https:// URL sent to the proxy (use CONNECT)");
	if (n < 7 || strncasecmp(t, "http://", 7))
		return sbx_error_set(SBX_EUNSUPPORTED, "request target is not an http:// URL");
	if (memchr(t, '#', n))
		return SBX_CORRUPT("fragment in request target");
	t += 7;
	n -= 7;
	for (alen = 0; alen < n && t[alen] != '/' && t[alen] != '?'; alen++)
		;
	if (memchr(t, '@', alen))
		return SBX_CORRUPT("userinfo in request target");
	r->port = 80;
	ret = parse_authority(r->host, &type, &r->port, &has_port, t, alen);
	if (ret < 0)
		return ret;
	r->host_type = type;
	/* Origin form: the path (or "/") and the query. */
	i = 0;
	if (alen == n || t[alen] == '?')
		path_out[i++] = '/';
	memcpy(path_out + i, t + alen, n - alen);
	path_out[i + n - alen] = 0;
	r->path = path_out;
	return 0;
}

static int parse_request_line(struct sbx_http_req *r, char *line, size_t n, char *path_out)
{
	char *sp1, *sp2, *version;
	size_t mlen;

	sp1 = memchr(line, ' ', n);
	if (!sp1)
		return SBX_CORRUPT("request line without a target");
	mlen = (size_t)(sp1 - line);
	if (!mlen || mlen >= SBX_HTTP_METHOD_MAX)
		return SBX_CORRUPT("bad method length");
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)line[i]))
			return SBX_CORRUPT("bad character in method");
	memcpy(r->method, line, mlen);
	r->method[mlen] = 0;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(line + n - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return SBX_CORRUPT("request line is not METHOD TARGET VERSION");
	version = sp2 + 1;
	if ((size_t)(line + n - version) != 8 || memcmp(version, "HTTP/", 5) ||
	    !isdigit((unsigned char)version[5]) || version[6] != '.' ||
	    !isdigit((unsigned char)version[7]))
		return SBX_CORRUPT("bad HTTP version");
	if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
		return sbx_error_set(SBX_EUNSUPPORTED, "HTTP version %.8s is not supported", version);
	r->minor = version[7] - '0';
	r->form = !strcmp(r->method, "CONNECT") ? SBX_HTTP_CONNECT : SBX_HTTP_ABSOLUTE;
	return parse_target(r, sp1 + 1, (size_t)(sp2 - sp1 - 1), path_out);
}

static int parse_field(struct sbx_http_req *r, char *line, size_t n)
{
	char *colon, *v, *end;
	size_t i;

	if (line[0] == ' ' || line[0] == '\t')
		return SBX_CORRUPT("obsolete line folding in a header field");
	colon = memchr(line, ':', n);
	if (!colon || colon == line)
		return SBX_CORRUPT("header field without a name");
	for (i = 0; line + i < colon; i++)
		if (!is_tchar((unsigned char)line[i]))
			return SBX_CORRUPT("bad character in a header field name");
	for (v = colon + 1, end = line + n; v < end; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return SBX_CORRUPT("control byte 0x%02x in a header field value", c);
	}
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*colon = 0;
	*end = 0;
	if (r->nfields >= SBX_HTTP_FIELDS_MAX)
		return sbx_error_set(SBX_ELIMIT, "more than %d header fields", SBX_HTTP_FIELDS_MAX);
	r->fields[r->nfields].name = line;
	r->fields[r->nfields].value = v;
	r->nfields++;
	return 0;
}

const char *sbx_http_req_field(const struct sbx_http_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (!strcasecmp(r->fields[i].name, name))
			return r->fields[i].value;
	return NULL;
}

static size_t count_fields(const struct sbx_http_req *r, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < r->nfields; i++)
		n += !strcasecmp(r->fields[i].name, name);
	return n;
}

/* Host, Content-Length and Transfer-Encoding: the fields that decide where and how long. */
static int check_framing(struct sbx_http_req *r)
{
	const char *host = sbx_http_req_field(r, "Host");
	const char *cl = sbx_http_req_field(r, "Content-Length");
	const char *te = sbx_http_req_field(r, "Transfer-Encoding");

	if (count_fields(r, "Host") > 1)
		return SBX_CORRUPT("more than one Host field");
	if (!host && r->minor == 1)
		return SBX_CORRUPT("HTTP/1.1 request without a Host field");
	if (host) {
		char h[SBX_HTTP_HOST_MAX];
		uint16_t port = r->form == SBX_HTTP_CONNECT ? r->port : 80;
		bool has_port;
		int type, ret;

		ret = parse_authority(h, &type, &port, &has_port, host, strlen(host));
		if (ret < 0)
			return sbx_error_prefix(ret, "Host field");
		if (strcmp(h, r->host) || port != r->port)
			return SBX_CORRUPT("Host field does not match the request target");
	}
	if (count_fields(r, "Content-Length") > 1)
		return SBX_CORRUPT("more than one Content-Length field");
	if (count_fields(r, "Transfer-Encoding") > 1)
		return SBX_CORRUPT("more than one Transfer-Encoding field");
	if (cl && te)
		return SBX_CORRUPT("both Transfer-Encoding and Content-Length (request smuggling)");
	if (cl) {
		size_t n = strlen(cl);

		if (!is_digits(cl, n) || n > 15)
			return SBX_CORRUPT("bad Content-Length");
		r->content_length = strtoll(cl, NULL, 10);
	}
	if (te) {
		if (r->minor == 0)
			return SBX_CORRUPT("Transfer-Encoding in an HTTP/1.0 request");
		if (strcasecmp(te, "chunked"))
			return sbx_error_set(SBX_EUNSUPPORTED, "transfer coding other than chunked");
		r->chunked = true;
	}
	if (r->form == SBX_HTTP_CONNECT && (r->chunked || r->content_length > 0))
		return SBX_CORRUPT("CONNECT request with a body");
	return 0;
}

int sbx_http_req_parse(struct sbx_http_req **out, const void *buf, size_t len)
{
	struct sbx_http_scan scan = SBX_HTTP_SCAN_INIT;
	struct sbx_http_req *r = NULL;
	char *line, *eol, *end;
	long head;
	int ret;

	*out = NULL;
	head = sbx_http_head_end(&scan, buf, len);
	if (head < 0)
		return (int)head;
	if (head == 0 || (size_t)head != len)
		return SBX_CORRUPT("incomplete request head");
	r = calloc(1, sizeof(*r));
	/* The head, a NUL, and room for the origin-form path ("/" + target). */
	if (!r || !(r->storage = malloc(2 * len + 2))) {
		ret = sbx_error_set(SBX_ENOMEM, "out of memory for a request head");
		goto out;
	}
	memcpy(r->storage, buf, len);
	r->storage[len] = 0;
	r->content_length = -1;
	r->head_len = len;
	end = r->storage + len - 2;	/* the final CRLF */
	line = r->storage;
	eol = strstr(line, "\r\n");
	ret = parse_request_line(r, line, (size_t)(eol - line), r->storage + len + 1);
	if (ret < 0)
		goto out;
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = strstr(line, "\r\n");
		ret = parse_field(r, line, (size_t)(eol - line));
		if (ret < 0)
			goto out;
	}
	ret = check_framing(r);
	if (ret < 0)
		goto out;
	*out = r;
	r = NULL;
out:
	sbx_http_req_free(r);
	return ret;
}

void sbx_http_req_free(struct sbx_http_req *r)
{
	if (!r)
		return;
	free(r->storage);
	free(r);
}

enum {
	CK_SIZE, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF,
	CK_TRAILER_START, CK_TRAILER, CK_TRAILER_LF, CK_END_LF,
};

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

long sbx_http_chunked_scan(struct sbx_http_chunked *st, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i = 0;

	while (i < len && !st->done) {
		unsigned char c = p[i];

		switch (st->state) {
		case CK_SIZE:
			if (hexval(c) >= 0) {
				if (++st->digits > 15)
					return SBX_CORRUPT("chunk size too long");
				st->left = st->left * 16 + (uint64_t)hexval(c);
			} else if (!st->digits) {
				return SBX_CORRUPT("chunk without a size");
			} else if (c == ';') {
				st->state = CK_EXT;
				st->line = 0;
			} else if (c == '\r') {
				st->state = CK_SIZE_LF;
			} else {
				return SBX_CORRUPT("bad byte 0x%02x in a chunk size", c);
			}
			i++;
			break;
		case CK_EXT:
		case CK_TRAILER:
			if (c == '\r') {
				st->state = st->state == CK_EXT ? CK_SIZE_LF : CK_TRAILER_LF;
			} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
				return SBX_CORRUPT("control byte 0x%02x in a chunk extension or trailer", c);
			} else if (++st->line > SBX_HTTP_FIELD_MAX) {
				return sbx_error_set(SBX_ELIMIT, "chunk extension or trailer too long");
			}
			i++;
			break;
		case CK_SIZE_LF:
		case CK_DATA_LF:
		case CK_TRAILER_LF:
		case CK_END_LF:
			if (c != '\n')
				return SBX_CORRUPT("bare CR in chunked framing");
			i++;
			if (st->state == CK_END_LF)
				st->done = true;
			else if (st->state == CK_SIZE_LF)
				st->state = st->left ? CK_DATA : CK_TRAILER_START;
			else if (st->state == CK_DATA_LF)
				st->state = CK_SIZE, st->digits = 0, st->left = 0;
			else
				st->state = CK_TRAILER_START;
			break;
		case CK_DATA: {
			size_t n = len - i < st->left ? len - i : (size_t)st->left;

			i += n;
			st->left -= n;
			if (!st->left)
				st->state = CK_DATA_CR;
			break;
		}
		case CK_DATA_CR:
			if (c != '\r')
				return SBX_CORRUPT("chunk data longer than its size");
			st->state = CK_DATA_LF;
			i++;
			break;
		case CK_TRAILER_START:
			if (c == '\r') {
				st->state = CK_END_LF;
			} else if (c == ' ' || c == '\t' || !is_tchar(c)) {
				return SBX_CORRUPT("bad trailer field");
			} else {
				st->state = CK_TRAILER;
				st->line = 1;
			}
			i++;
			break;
		default:
			return SBX_CORRUPT("bad chunked state");
		}
	}
	return (long)i;
}
