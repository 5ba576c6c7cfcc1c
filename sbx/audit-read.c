// SPDX-License-Identifier: MIT
/*
 * The audit trail, reading side (sbx/audit.h): a bounded line reader that
 * can follow a file being appended to, the summary, and the git note.
 * The file holds guest text (host names, paths, commands): lines are
 * bounded, every field is type-checked where it is used, and nothing from
 * it is trusted to be UTF-8 or free of controls.
 */
#include "sbx/audit.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/quote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sbx_audit_reader {
	int fd;
	char *buf;		/* SBX_AUDIT_LINE_MAX bytes */
	size_t len;		/* bytes of the next line(s) in buf */
	size_t line;		/* lines taken so far */
	char note[128];
};

int sbx_audit_reader_new(struct sbx_audit_reader **out, int fd)
{
	struct sbx_audit_reader *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r || !(r->buf = malloc(SBX_AUDIT_LINE_MAX))) {
		free(r);
		close(fd);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	r->fd = fd;
	*out = r;
	return 0;
}

int sbx_audit_reader_open(struct sbx_audit_reader **out, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*out = NULL;
	if (fd < 0 && errno == ENOENT)
		return sbx_error_set(SBX_ENOTFOUND, "no audit file '%s'", path);
	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open the audit file '%s'", path);
	return sbx_audit_reader_new(out, fd);
}

void sbx_audit_reader_free(struct sbx_audit_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->buf);
	free(r);
}

size_t sbx_audit_reader_line(const struct sbx_audit_reader *r)
{
	return r->line;
}

/* Parse one line (without its newline) into a checked record. */
static int parse_line(json_t **rec, const char *p, size_t len, size_t line)
{
	json_error_t jerr;
	json_t *o, *v, *kind;

	o = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return SBX_CORRUPT("audit file line %zu is not JSON (%s at column %d)", line,
				   jerr.text, jerr.column);
	v = json_object_get(o, "v");
	kind = json_object_get(o, "kind");
	if (!json_is_object(o) || !json_is_integer(v) || !json_is_string(kind)) {
		json_decref(o);
		return SBX_CORRUPT("audit file line %zu is not an audit record (an object with "
				   "\"v\" and \"kind\")", line);
	}
	if (json_integer_value(v) != SBX_AUDIT_VERSION) {
		long long ver = json_integer_value(v);

		json_decref(o);
		return sbx_error_set(SBX_EUNSUPPORTED, "audit file line %zu has record version %lld; "
				     "this git-sbx reads version %d", line, ver, SBX_AUDIT_VERSION);
	}
	*rec = o;
	return 0;
}

int sbx_audit_reader_next(json_t **rec, struct sbx_audit_reader *r)
{
	*rec = NULL;
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - r->buf);
			int err = parse_line(rec, r->buf, len, ++r->line);

			r->len -= len + 1;
			memmove(r->buf, nl + 1, r->len);
			return err ? err : 1;
		}
		if (r->len == SBX_AUDIT_LINE_MAX)
			return SBX_CORRUPT("audit file line %zu is longer than %u bytes", r->line + 1,
					   SBX_AUDIT_LINE_MAX);
		n = read(r->fd, r->buf + r->len, SBX_AUDIT_LINE_MAX - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sbx_error_errno(SBX_EIO, "cannot read the audit file");
		if (n == 0)
			return 0;
		r->len += (size_t)n;
	}
}

int sbx_audit_reader_finish(const char **note, struct sbx_audit_reader *r)
{
	*note = NULL;
	if (!r->len)
		return 0;
	snprintf(r->note, sizeof(r->note), "audit file line %zu is cut short (%zu bytes, no newline: "
		 "its writer was stopped); skipped", r->line + 1, r->len);
	*note = r->note;
	r->len = 0;
	return 1;
}

const char *sbx_audit_get_str(const json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

int64_t sbx_audit_get_int(const json_t *rec, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(rec, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

bool sbx_audit_get_bool(const json_t *rec, const char *key)
{
	return json_is_true(json_object_get(rec, key));
}

/* ---- the summary ---- */

static uint64_t get_u64(const json_t *rec, const char *key)
{
	int64_t v = sbx_audit_get_int(rec, key, 0);

	return v > 0 ? (uint64_t)v : 0;
}

/* Totals saturate: a hostile file could make them wrap. */
static void add_sat(uint64_t *sum, uint64_t v)
{
	if (__builtin_add_overflow(*sum, v, sum))
		*sum = UINT64_MAX;
}

static int add_conn(struct sbx_audit_summary *s, const json_t *rec)
{
	const char *host = sbx_audit_get_str(rec, "host");
	int64_t port = sbx_audit_get_int(rec, "port", 0);
	const char *decision = sbx_audit_get_str(rec, "decision");
	bool allowed = decision && !strcmp(decision, "allow");
	uint64_t up = get_u64(rec, "bytes_up"), down = get_u64(rec, "bytes_down");
	struct sbx_audit_host *h = NULL;
	size_t i;

	if (!host)
		host = "?";
	if (port < 0 || port > 65535)
		port = 0;
	if (allowed)
		s->conns_allowed++;
	else
		s->conns_denied++;
	add_sat(&s->bytes_up, up);
	add_sat(&s->bytes_down, down);
	for (i = 0; i < s->nhosts && !h; i++)
		if (s->hosts[i].port == (unsigned)port && !strcmp(s->hosts[i].host, host))
			h = &s->hosts[i];
	if (!h) {
		struct sbx_audit_host *more;

		if (s->nhosts == SBX_AUDIT_SUMMARY_HOSTS) {
			s->hosts_dropped++;
			return 0;
		}
		more = realloc(s->hosts, (s->nhosts + 1) * sizeof(*more));
		if (!more)
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		s->hosts = more;
		h = &s->hosts[s->nhosts];
		memset(h, 0, sizeof(*h));
		if (!(h->host = strdup(host)))
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		h->port = (unsigned)port;
		s->nhosts++;
	}
	if (allowed)
		h->allowed++;
	else
		h->denied++;
	add_sat(&h->bytes_up, up);
	add_sat(&h->bytes_down, down);
	return 0;
}

#define COMMAND_MAX 200

static int add_exec(struct sbx_audit_summary *s, const json_t *rec)
{
	const json_t *argv = json_object_get(rec, "argv"), *v;
	char buf[COMMAND_MAX + 4], **more;
	size_t i, used = 0;

	s->execs++;
	if (s->ncommands == SBX_AUDIT_SUMMARY_COMMANDS)
		return 0;
	buf[0] = 0;
	json_array_foreach(argv, i, v) {
		const char *a = json_string_value(v);

		if (!a)
			continue;
		if (used + strlen(a) + 1 > COMMAND_MAX) {
			strcpy(buf + used, used ? " ..." : "...");
			break;
		}
		used += (size_t)sprintf(buf + used, "%s%s", used ? " " : "", a);
	}
	more = realloc(s->commands, (s->ncommands + 1) * sizeof(*more));
	if (!more)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	s->commands = more;
	if (!(s->commands[s->ncommands] = strdup(buf)))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	s->ncommands++;
	return 0;
}

int sbx_audit_summary_add(struct sbx_audit_summary *s, const json_t *rec)
{
	const char *kind = sbx_audit_get_str(rec, "kind");

	s->records++;
	if (!kind)
		return 0;
	if (!strcmp(kind, "conn"))
		return add_conn(s, rec);
	if (!strcmp(kind, "exec"))
		return add_exec(s, rec);
	if (!strcmp(kind, "import")) {
		const char *verdict = sbx_audit_get_str(rec, "verdict");
		const char *reason = sbx_audit_get_str(rec, "reason");

		s->has_import = true;
		s->import_accepted = verdict && !strcmp(verdict, "accepted");
		free(s->import_reason);
		s->import_reason = NULL;
		if (reason && !(s->import_reason = strdup(reason)))
			return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	return 0;
}

static int host_cmp(const void *a, const void *b)
{
	const struct sbx_audit_host *x = a, *y = b;
	size_t nx = x->allowed + x->denied, ny = y->allowed + y->denied;

	if (!x->allowed != !y->allowed)
		return x->allowed ? -1 : 1;
	if (nx != ny)
		return nx > ny ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->host, y->host);
}

void sbx_audit_summary_finish(struct sbx_audit_summary *s)
{
	if (s->nhosts)
		qsort(s->hosts, s->nhosts, sizeof(*s->hosts), host_cmp);
}

int sbx_audit_summarize(struct sbx_audit_summary *s, const char *path)
{
	struct sbx_audit_reader *r = NULL;
	const char *note;
	json_t *rec;
	int err;

	err = sbx_audit_reader_open(&r, path);
	while (!err && (err = sbx_audit_reader_next(&rec, r)) == 1) {
		err = sbx_audit_summary_add(s, rec);
		json_decref(rec);
	}
	if (!err) {
		s->torn = sbx_audit_reader_finish(&note, r) == 1;
		sbx_audit_summary_finish(s);
	}
	sbx_audit_reader_free(r);
	return err;
}

void sbx_audit_summary_clear(struct sbx_audit_summary *s)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		free(s->hosts[i].host);
	free(s->hosts);
	for (i = 0; i < s->ncommands; i++)
		free(s->commands[i]);
	free(s->commands);
	free(s->import_reason);
	memset(s, 0, sizeof(*s));
}

static void put_quoted(FILE *f, const char *s)
{
	sbx_quote_fputs(s, f);
}

char *sbx_audit_summary_text(const struct sbx_audit_summary *s)
{
	char *buf = NULL;
	size_t size = 0, i;
	FILE *f = open_memstream(&buf, &size);
	int pass;

	if (!f)
		return NULL;
	fprintf(f, "network: %zu connection%s allowed, %zu denied; %llu bytes up, %llu bytes down\n",
		s->conns_allowed, s->conns_allowed == 1 ? "" : "s", s->conns_denied,
		(unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down);
	for (pass = 0; pass < 2; pass++) {
		bool first = true;

		for (i = 0; i < s->nhosts; i++) {
			const struct sbx_audit_host *h = &s->hosts[i];
			size_t n = pass ? h->denied : h->allowed;

			if (!n)
				continue;
			if (first)
				fputs(pass ? "denied:\n" : "allowed:\n", f);
			first = false;
			fputs("  ", f);
			put_quoted(f, h->host);
			fprintf(f, ":%u  %zu connection%s", h->port, n, n == 1 ? "" : "s");
			if (!pass)
				fprintf(f, ", %llu bytes up, %llu down", (unsigned long long)h->bytes_up,
					(unsigned long long)h->bytes_down);
			fputc('\n', f);
		}
	}
	if (s->hosts_dropped)
		fprintf(f, "  (and %zu connection%s to other hosts)\n", s->hosts_dropped,
			s->hosts_dropped == 1 ? "" : "s");
	fprintf(f, "commands: %zu\n", s->execs);
	for (i = 0; i < s->ncommands; i++) {
		fputs("  ", f);
		put_quoted(f, s->commands[i]);
		fputc('\n', f);
	}
	if (s->execs > s->ncommands)
		fprintf(f, "  ... and %zu more\n", s->execs - s->ncommands);
	if (s->has_import) {
		fprintf(f, "import: %s", s->import_accepted ? "accepted" : "rejected");
		if (s->import_reason) {
			fputs(" (", f);
			put_quoted(f, s->import_reason);
			fputc(')', f);
		}
		fputc('\n', f);
	}
	if (s->torn)
		fputs("(the audit file's last line was cut short and skipped)\n", f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

int sbx_audit_note(git_repository *repo, const git_oid *commit, const struct sbx_audit_summary *s)
{
	git_signature *sig = NULL;
	git_oid note;
	char *text = sbx_audit_summary_text(s);
	int err = 0;

	if (!text)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (git_signature_default(&sig, repo) < 0 &&
	    git_signature_now(&sig, "git-sbx", "git-sbx@localhost") < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot make a signature for the audit note");
		goto out;
	}
	if (git_note_create(&note, repo, SBX_AUDIT_NOTES_REF, sig, sig, commit, text, 1) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot write the audit note");
out:
	git_signature_free(sig);
	free(text);
	return err;
}

int sbx_audit_note_task(git_repository *repo, const struct sbx_task *task, const git_oid *commit)
{
	struct sbx_audit_summary s = SBX_AUDIT_SUMMARY_INIT;
	char *path = sbx_audit_path(task);
	int err;

	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_audit_summarize(&s, path);
	if (err == SBX_ENOTFOUND)
		err = 0;
	else if (!err)
		err = sbx_audit_note(repo, commit, &s);
	sbx_audit_summary_clear(&s);
	free(path);
	return err;
}
