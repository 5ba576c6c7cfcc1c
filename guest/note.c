// SPDX-License-Identifier: MIT
/*
 * Notes (sbx/proto.h, protocol v4): a program in the guest tells the host
 * that something worth a checkpoint happened (the agent committed).  The
 * guest side is a datagram socket (SBX_NOTE_SOCKET, mode 0666: the agent's
 * user sends to it) whose one-byte datagrams become NOTE frames, and the
 * client, `sbx-init --note KIND`, which the post-commit hook in
 * SBX_NOTE_HOOKS runs.  sbx-init copies itself to SBX_NOTE_CLIENT at start
 * (after the root switch the initramfs is out of sight).
 *
 * A note is a hint, not a request the host must honour: datagrams are read
 * only while the channel has room and not while quiesced, kinds are OR-ed
 * per poll round (a flood makes at most one frame per kind per round), and
 * the host rate-limits what it does with them.  A client never blocks: a
 * full socket drops its note.
 */
#include "guest/sbx-init.h"
#include "guest/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int note_fd = -1;

static const char *const kinds[PROTO_NOTE_MAX + 1] = {
	[PROTO_NOTE_COMMIT] = "commit",
};

static int addr_of(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -1;
	memcpy(a->sun_path, path, strlen(path));
	return 0;
}

int note_start(const char *path)
{
	struct sockaddr_un a;

	if (addr_of(&a, path)) {
		sbx_log("note socket path too long: %s", path);
		return -1;
	}
	note_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (note_fd < 0) {
		sbx_log("note socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	if (bind(note_fd, (struct sockaddr *)&a, sizeof(a)) || chmod(path, 0666)) {
		sbx_log("note socket %s: %s", path, strerror(errno));
		close_fd(&note_fd);
		return -1;
	}
	return 0;
}

size_t note_poll(struct pollfd *pfd)
{
	if (note_fd < 0 || chan_queued() >= CHAN_Q_HIGH)
		return 0;
	pfd[0] = (struct pollfd){ .fd = note_fd, .events = POLLIN };
	return 1;
}

void note_io(const struct pollfd *pfd, size_t n)
{
	uint8_t buf[64], last[PROTO_NOTE_MAX + 1][1 + PROTO_NOTE_OID_LEN];
	size_t len[PROTO_NOTE_MAX + 1] = { 0 };
	unsigned k;
	int i;

	if (!n || !(pfd[0].revents & POLLIN))
		return;
	/* A bounded round: a flood waits for the next one; the last of each kind wins. */
	for (i = 0; i < 64; i++) {
		ssize_t got = recv(note_fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (got < 0)
			break;
		if (got < 1 || buf[0] < 1 || buf[0] > PROTO_NOTE_MAX)
			continue;
		if (got != 1 && (buf[0] != PROTO_NOTE_COMMIT || got != 1 + PROTO_NOTE_OID_LEN))
			continue;
		memcpy(last[buf[0]], buf, (size_t)got);
		len[buf[0]] = (size_t)got;
	}
	for (k = 1; k <= PROTO_NOTE_MAX; k++)
		if (len[k])
			send_frame(PROTO_NOTE, 0, 0, last[k], (uint32_t)len[k]);
}

void note_stop(void)
{
	close_fd(&note_fd);
}

/*
 * The hook and the client, in /run (a tmpfs of root's): the agent can run
 * them, not change them.
 */
void note_install(void)
{
	static const char hook[] = "#!/bin/sh\n"
				   "# git-sbx: tell the host a commit was made (a checkpoint hint)\n"
				   "exec " SBX_NOTE_CLIENT " --note commit \"$(git rev-parse -q --verify HEAD)\"\n";
	char buf[65536];
	int in, out = -1, fd;
	ssize_t n;

	mkdir("/run/sbx", 0755);
	mkdir(SBX_NOTE_HOOKS, 0755);
	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in >= 0)
		out = open(SBX_NOTE_CLIENT ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			close_fd(&out);
			break;
		}
	if (in >= 0 && out >= 0 && !close(out) && !rename(SBX_NOTE_CLIENT ".tmp", SBX_NOTE_CLIENT)) {
		out = -1;
		fd = open(SBX_NOTE_HOOKS "/post-commit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0755);
		if (fd >= 0 && write(fd, hook, sizeof(hook) - 1) == (ssize_t)(sizeof(hook) - 1) &&
		    !close(fd))
			rename(SBX_NOTE_HOOKS "/post-commit.tmp", SBX_NOTE_HOOKS "/post-commit");
		else
			sbx_log("cannot write the post-commit hook: %s", strerror(errno));
	} else {
		sbx_log("cannot copy sbx-init to %s: %s", SBX_NOTE_CLIENT, strerror(errno));
	}
	if (in >= 0)
		close(in);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * `sbx-init --note KIND [OID] [--socket PATH]`: 0 sent or dropped (never
 * an error to git), 2 usage.  A commit note may name the commit (40 hex).
 */
int note_client(const char *kind, const char *oid, const char *path)
{
	uint8_t b[1 + PROTO_NOTE_OID_LEN];
	struct sockaddr_un a;
	size_t len = 1, i;
	unsigned k;
	int fd;

	b[0] = 0;
	for (k = 1; k <= PROTO_NOTE_MAX; k++)
		if (kinds[k] && !strcmp(kinds[k], kind))
			b[0] = (uint8_t)k;
	if (!b[0]) {
		fprintf(stderr, "sbx-init: unknown note '%s' (known: commit)\n", kind);
		return 2;
	}
	if (oid && *oid) {
		if (b[0] != PROTO_NOTE_COMMIT || strlen(oid) != 2 * PROTO_NOTE_OID_LEN) {
			fprintf(stderr, "sbx-init: a note names a commit by 40 hex digits\n");
			return 2;
		}
		for (i = 0; i < PROTO_NOTE_OID_LEN; i++) {
			int hi = hexval(oid[2 * i]), lo = hexval(oid[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				fprintf(stderr, "sbx-init: a note names a commit by 40 hex digits\n");
				return 2;
			}
			b[1 + i] = (uint8_t)(hi << 4 | lo);
		}
		len += PROTO_NOTE_OID_LEN;
	}
	if (addr_of(&a, path))
		return 2;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	sendto(fd, b, len, MSG_DONTWAIT, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return 0;
}
