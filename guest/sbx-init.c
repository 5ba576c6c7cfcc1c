// SPDX-License-Identifier: MIT
/*
 * sbx-init: PID 1 inside the git-sbx microVM (a static binary in the
 * initramfs).  It sets the machine up (guest/setup.c: modules, root overlay,
 * /workspace, the agent user, lo) and then serves the channel (sbx/proto.h,
 * guest/serve.c): it runs commands for the host (guest/exec.c) and carries
 * the connections to its proxy listener on 127.0.0.1:3128 to the host as
 * streams (guest/proxy.c).
 *
 * Run as `sbx-init --serve` (not PID 1) it serves the protocol on its stdin
 * and stdout without touching the system: the host's tests drive it that
 * way, with `--proxy-listen ADDR:PORT` for a listener of their own.
 */
#include "guest/sbx-init.h"
#include "guest/serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void sbx_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("sbx-init: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *sbx_proxy_listen;

bool sbx_serve_only;

const char *sbx_note_socket;

static const char usage[] =
	"usage: sbx-init            (as PID 1 inside the git-sbx VM)\n"
	"   or: sbx-init --serve [--proxy-listen ADDR:PORT] [--note-socket PATH]\n"
	"                           (serve the channel on stdin/stdout, for tests)\n"
	"   or: sbx-init --note commit [COMMIT] [--socket PATH]\n"
	"                           (tell the host a commit was made: a checkpoint hint)\n";

int main(int argc, char **argv)
{
	int i;

	if (argc > 1 && !strcmp(argv[1], "--serve")) {
		sbx_serve_only = true;
		for (i = 2; i + 1 < argc; i += 2)
			if (!strcmp(argv[i], "--proxy-listen"))
				sbx_proxy_listen = argv[i + 1];
			else if (!strcmp(argv[i], "--note-socket"))
				sbx_note_socket = argv[i + 1];
			else
				break;
		if (i != argc) {
			fputs(usage, stderr);
			return 2;
		}
		return sbx_serve(0, 1) < 0 ? 0 : 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--note")) {
		const char *oid = NULL, *sock = SBX_NOTE_SOCKET;

		i = 3;
		if (i < argc && strcmp(argv[i], "--socket"))
			oid = argv[i++];
		if (i + 1 < argc && !strcmp(argv[i], "--socket")) {
			sock = argv[i + 1];
			i += 2;
		}
		if (i != argc) {
			fputs(usage, stderr);
			return 2;
		}
		return note_client(argv[2], oid, sock);
	}
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (getpid() != 1) {
		fprintf(stderr, "sbx-init: not PID 1; use --serve to serve the channel on stdio\n");
		return 2;
	}
	sbx_proxy_listen = SBX_PROXY_DEFAULT;
	sbx_note_socket = SBX_NOTE_SOCKET;
	return sbx_init_main();
}
