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

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--serve")) {
		sbx_serve_only = true;
		if (argc == 4 && !strcmp(argv[2], "--proxy-listen")) {
			sbx_proxy_listen = argv[3];
		} else if (argc != 2) {
			fprintf(stderr, "usage: sbx-init --serve [--proxy-listen ADDR:PORT]\n");
			return 2;
		}
		return sbx_serve(0, 1) < 0 ? 0 : 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: sbx-init            (as PID 1 inside the git-sbx VM)\n"
		       "   or: sbx-init --serve [--proxy-listen ADDR:PORT]\n"
		       "                           (serve the channel on stdin/stdout, for tests)\n");
		return 0;
	}
	if (getpid() != 1) {
		fprintf(stderr, "sbx-init: not PID 1; use --serve to serve the channel on stdio\n");
		return 2;
	}
	sbx_proxy_listen = SBX_PROXY_DEFAULT;
	return sbx_init_main();
}
