// SPDX-License-Identifier: MIT
/*
 * The bundle header parser: a push parser with hard limits on everything,
 * for the guest's bundles (hostile input; fuzzed by tests/fuzz/fuzz-bundle.c).
 * No libgit2 calls but git_oid_fromstrn.
 */
#include "sbx/bundle.h"
#include "util/error.h"

#include <string.h>

/* ---- the header parser ---- */

void sbx_bundle_parser_init(struct sbx_bundle_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = SBX_BUNDLE_PARSE_SIGNATURE;
}

static int parse_hex_oid(git_oid *out, const char *s)
{
	size_t i;

	for (i = 0; i < GIT_OID_HEXSZ; i++) {
		char ch = s[i];

		/* git writes lowercase; anything else is not from git */
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -1;
	}
	return git_oid_fromstrn(out, s, GIT_OID_HEXSZ) < 0 ? -1 : 0;
}

/* One complete line (without "\n"); `kept` bytes of it are in p->line. */
static int parse_line(struct sbx_bundle_parser *p, size_t kept, size_t full)
{
	const char *l = p->line;
	size_t i;

	switch (p->state) {
	case SBX_BUNDLE_PARSE_SIGNATURE:
		if (full == 15 && !memcmp(l, "# v2 git bundle", 15)) {
			p->hdr.version = 2;
			p->state = SBX_BUNDLE_PARSE_LINES;
			return 0;
		}
		if (full == 15 && !memcmp(l, "# v3 git bundle", 15)) {
			p->hdr.version = 3;
			p->state = SBX_BUNDLE_PARSE_CAPS;
			return 0;
		}
		return SBX_CORRUPT("not a git bundle (no v2 or v3 signature)");
	case SBX_BUNDLE_PARSE_CAPS:
		if (full && l[0] == '@') {
			if (++p->ncaps > SBX_BUNDLE_MAX_CAPS)
				return sbx_error_set(SBX_ELIMIT, "bundle has more than %d capabilities",
						     SBX_BUNDLE_MAX_CAPS);
			if (full == 19 && !memcmp(l, "@object-format=sha1", 19))
				return 0;
			return sbx_error_set(SBX_EUNSUPPORTED, "unsupported bundle capability '%.*s'",
					     (int)(kept < 64 ? kept - 1 : 64), l + 1);
		}
		p->state = SBX_BUNDLE_PARSE_LINES;
		/* fall through */
	case SBX_BUNDLE_PARSE_LINES:
		break;
	case SBX_BUNDLE_PARSE_PACK:
		return SBX_CORRUPT("bundle parser fed after its header");
	}

	if (full == 0) {
		p->state = SBX_BUNDLE_PARSE_PACK;
		return 0;
	}
	if (l[0] == '-') {
		/* "-<oid>" or "-<oid> <comment>"; the comment is not kept */
		if (full < 1 + GIT_OID_HEXSZ || (full > 1 + GIT_OID_HEXSZ && l[1 + GIT_OID_HEXSZ] != ' '))
			return SBX_CORRUPT("bad prerequisite line in the bundle header");
		if (p->hdr.nprereqs >= SBX_BUNDLE_MAX_PREREQS)
			return sbx_error_set(SBX_ELIMIT, "bundle has more than %d prerequisites",
					     SBX_BUNDLE_MAX_PREREQS);
		if (parse_hex_oid(&p->hdr.prereqs[p->hdr.nprereqs], l + 1))
			return SBX_CORRUPT("bad object id in a bundle prerequisite");
		p->hdr.nprereqs++;
		return 0;
	}
	if (full < GIT_OID_HEXSZ + 2 || l[GIT_OID_HEXSZ] != ' ')
		return SBX_CORRUPT("bad ref line in the bundle header");
	if (full - GIT_OID_HEXSZ - 1 > SBX_BUNDLE_MAX_REFNAME)
		return sbx_error_set(SBX_ELIMIT, "ref name in the bundle longer than %d bytes",
				     SBX_BUNDLE_MAX_REFNAME);
	if (p->hdr.nrefs >= SBX_BUNDLE_MAX_REFS)
		return sbx_error_set(SBX_ELIMIT, "bundle has more than %d refs", SBX_BUNDLE_MAX_REFS);
	for (i = GIT_OID_HEXSZ + 1; i < full; i++)
		if ((unsigned char)l[i] <= ' ' || l[i] == 0x7f)
			return SBX_CORRUPT("control character or space in a bundle ref name");
	if (parse_hex_oid(&p->hdr.refs[p->hdr.nrefs].oid, l))
		return SBX_CORRUPT("bad object id in a bundle ref");
	memcpy(p->hdr.refs[p->hdr.nrefs].name, l + GIT_OID_HEXSZ + 1, full - GIT_OID_HEXSZ - 1);
	p->hdr.refs[p->hdr.nrefs].name[full - GIT_OID_HEXSZ - 1] = '\0';
	p->hdr.nrefs++;
	return 0;
}

long sbx_bundle_parser_feed(struct sbx_bundle_parser *p, const void *data, size_t len)
{
	const unsigned char *d = data;
	size_t i;

	if (p->err)
		return p->err;
	for (i = 0; i < len && p->state != SBX_BUNDLE_PARSE_PACK; i++) {
		unsigned char ch = d[i];

		if (++p->header_len > SBX_BUNDLE_MAX_HEADER) {
			p->err = sbx_error_set(SBX_ELIMIT, "bundle header longer than %u bytes",
					       SBX_BUNDLE_MAX_HEADER);
			return p->err;
		}
		if (ch == '\n') {
			size_t kept = p->line_len < sizeof(p->line) ? p->line_len : sizeof(p->line);
			int err = parse_line(p, kept, p->line_len);

			p->line_len = 0;
			if (err) {
				p->err = err;
				return err;
			}
			continue;
		}
		if (ch == '\0') {
			p->err = SBX_CORRUPT("NUL byte in the bundle header");
			return p->err;
		}
		/* The signature line is 15 bytes; do not scan megabytes of non-bundle. */
		if ((p->state == SBX_BUNDLE_PARSE_SIGNATURE && p->line_len >= 15) ||
		    p->line_len >= SBX_BUNDLE_MAX_LINE) {
			p->err = p->state == SBX_BUNDLE_PARSE_SIGNATURE
				 ? SBX_CORRUPT("not a git bundle (no v2 or v3 signature)")
				 : sbx_error_set(SBX_ELIMIT, "bundle header line longer than %d bytes",
						 SBX_BUNDLE_MAX_LINE);
			return p->err;
		}
		if (p->line_len < sizeof(p->line))
			p->line[p->line_len] = (char)ch;
		p->line_len++;
	}
	return (long)i;
}

