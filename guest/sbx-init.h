/* SPDX-License-Identifier: MIT */
/* sbx-init's parts: the channel server (serve.c, exec.c, proxy.c) and the machine set-up (setup.c). */
#ifndef SBX_GUEST_SBX_INIT_H
#define SBX_GUEST_SBX_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True in `--serve` mode: no system changes (time, entropy, power). */
extern bool sbx_serve_only;

/* Where the proxy listener listens ("ADDR:PORT"), or NULL for none. */
extern const char *sbx_proxy_listen;
#define SBX_PROXY_DEFAULT	"127.0.0.1:3128"
/* The note socket sbx-init reads (SBX_NOTE_SOCKET as PID 1), or NULL for none. */
extern const char *sbx_note_socket;

void sbx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Serve the channel until the host ends the session; returns the POWEROFF status or -1. */
int sbx_serve(int in_fd, int out_fd);
/* PID 1: set the machine up, serve /dev/hvc0, power off.  Never returns. */
int sbx_init_main(void) __attribute__((noreturn));
void sbx_add_entropy(const uint8_t *p, size_t n);

#endif
