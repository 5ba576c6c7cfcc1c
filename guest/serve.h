/* SPDX-License-Identifier: MIT */
/*
 * Inside sbx-init's channel server: serve.c (the channel, frames, the poll
 * loop), exec.c (commands the host runs), proxy.c (the proxy listener,
 * whose connections become streams the guest opens) and reseed.c (RESEED).  One thread, one poll
 * loop; each part adds its fds to poll and handles what poll said of them.
 */
#ifndef SBX_GUEST_SERVE_H
#define SBX_GUEST_SERVE_H

#include "sbx/proto.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf {
	uint8_t *data;
	size_t len, off, cap;
};

/* serve.c */
extern bool session_over;
uint64_t now_ms(void);
int q_append(struct outbuf *q, const void *p, size_t n);
void send_frame(uint8_t type, uint8_t flags, uint32_t stream, const void *payload, uint32_t len);
void send_error(uint32_t stream, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes queued for the host: readers of local fds hold back while it is long. */
size_t chan_queued(void);
#define CHAN_Q_HIGH	(1u << 20)
int set_nonblock(int fd);
void close_fd(int *fd);

/* reseed.c: RESEED (after a snapshot restore): entropy, CRNG reseed, clock; answers RESEEDED. */
void reseed_frame(const struct proto_hdr *h, const uint8_t *p);

/* note.c: the note socket (NOTE frames) and its client. */
int note_start(const char *path);
size_t note_poll(struct pollfd *pfd);
void note_io(const struct pollfd *pfd, size_t n);
void note_stop(void);
void note_install(void);
int note_client(const char *kind, const char *oid, const char *path);

/* exec.c */
#define EXEC_POLL_MAX	(3 * PROTO_MAX_STREAMS)
void exec_init(void);
void exec_start(uint32_t id, const uint8_t *p, uint32_t len);
void exec_frame(const struct proto_hdr *h, const uint8_t *p);
size_t exec_poll(struct pollfd *pfd);
void exec_io(const struct pollfd *pfd);
void exec_reap(void);
void exec_check_deadlines(void);
int exec_next_timeout(void);
void exec_kill_all(void);

/* proxy.c */
#define PROXY_POLL_MAX	(1 + PROTO_MAX_GUEST_STREAMS)
#define PROXY_ENV_MAX	16
/* Listen on "ADDR:PORT" (IPv4); 0, or -1 with a message logged. */
int proxy_start(const char *addr);
void proxy_frame(const struct proto_hdr *h, const uint8_t *p);
size_t proxy_poll(struct pollfd *pfd);
void proxy_io(const struct pollfd *pfd);
void proxy_stop(void);
/* A restored copy: drop every stream without a frame (the host that knew them is gone). */
void proxy_forget_streams(void);
/*
 * Add the proxy settings to an exec's environment (unless the host's
 * already names them): at most PROXY_ENV_MAX entries appended to envp.
 * Returns -1 when out of memory.
 */
int proxy_env(char **envp, size_t *envc);

#endif
