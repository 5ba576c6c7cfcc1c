// SPDX-License-Identifier: MIT
/*
 * sbx-init's commands: EXEC starts a process (as the requested user, in
 * its own process group, with the proxy settings in its environment), its
 * stdin, stdout and stderr flow with per-fd credit windows, SIGNAL reaches
 * its group, its timeout is enforced here, and EXIT reports how it ended.
 */
#include "guest/sbx-init.h"
#include "guest/serve.h"

#define SBX_INIT_MAX_USER_PROCS 2048

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct exec {
	uint32_t id;		/* 0 = free slot */
	pid_t pid;		/* the leader; its process group is pid */
	int in_fd;		/* write end of the child's stdin, -1 when closed */
	int out_fd[3];		/* [1], [2]: read ends of stdout and stderr; -1 when done */
	bool eof_sent[3];
	uint32_t credit[3];	/* bytes we may still send on fd 1 and 2 */
	struct outbuf stdin_q;	/* stdin bytes not yet written to the child */
	bool stdin_eof;		/* the host sent EOF on fd 0 */
	uint32_t stdin_unacked;	/* consumed bytes not yet granted back */
	bool exited;
	int status;		/* wait status when exited */
	bool timed_out;
	uint64_t deadline_ms;	/* CLOCK_MONOTONIC, 0 = none */
	uint64_t drain_deadline_ms; /* after the leader exits, how long pipes may stay open */
};


static struct exec execs[PROTO_MAX_STREAMS];

static struct exec *find_exec(uint32_t id)
{
	size_t i;

	if (!id)
		return NULL;
	for (i = 0; i < PROTO_MAX_STREAMS; i++)
		if (execs[i].id == id)
			return &execs[i];
	return NULL;
}

static void exec_free(struct exec *e)
{
	close_fd(&e->in_fd);
	close_fd(&e->out_fd[1]);
	close_fd(&e->out_fd[2]);
	free(e->stdin_q.data);
	memset(e, 0, sizeof(*e));
	e->in_fd = e->out_fd[0] = e->out_fd[1] = e->out_fd[2] = -1;
}

/* The exec is over once the leader has exited and both output pipes are done. */
static void maybe_finish(struct exec *e)
{
	uint8_t p[8];
	int code;
	uint32_t flags = 0;

	if (!e->exited || !e->eof_sent[1] || !e->eof_sent[2])
		return;
	if (WIFSIGNALED(e->status)) {
		code = 128 + WTERMSIG(e->status);
		flags |= PROTO_EXIT_SIGNALED;
	} else {
		code = WEXITSTATUS(e->status);
	}
	if (e->timed_out)
		flags |= PROTO_EXIT_TIMEOUT;
	proto_put32(p, (uint32_t)code);
	proto_put32(p + 4, flags);
	send_frame(PROTO_EXIT, 0, e->id, p, sizeof(p));
	exec_free(e);
}

static void send_eof(struct exec *e, int fd)
{
	if (e->eof_sent[fd])
		return;
	close_fd(&e->out_fd[fd]);
	e->eof_sent[fd] = true;
	send_frame(PROTO_EOF, (uint8_t)fd, e->id, NULL, 0);
}

static void pump_output(struct exec *e, int fd)
{
	static uint8_t buf[PROTO_MAX_PAYLOAD];
	size_t want = e->credit[fd] < sizeof(buf) ? e->credit[fd] : sizeof(buf);
	ssize_t n;

	if (e->out_fd[fd] < 0 || !want)
		return;
	n = read(e->out_fd[fd], buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		send_eof(e, fd);
		maybe_finish(e);
		return;
	}
	e->credit[fd] -= (uint32_t)n;
	send_frame(PROTO_DATA, (uint8_t)fd, e->id, buf, (uint32_t)n);
}

static void pump_stdin(struct exec *e)
{
	while (e->in_fd >= 0 && e->stdin_q.off < e->stdin_q.len) {
		ssize_t n = write(e->in_fd, e->stdin_q.data + e->stdin_q.off,
				  e->stdin_q.len - e->stdin_q.off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			/* The child closed its stdin: drop what is queued. */
			e->stdin_q.off = e->stdin_q.len;
			close_fd(&e->in_fd);
			break;
		}
		e->stdin_q.off += (size_t)n;
		e->stdin_unacked += (uint32_t)n;
	}
	if (e->stdin_q.off == e->stdin_q.len) {
		e->stdin_q.off = e->stdin_q.len = 0;
		if (e->stdin_eof)
			close_fd(&e->in_fd);
	}
	/* Grant credit back in chunks, or for everything once the child took it all. */
	if (e->stdin_unacked >= PROTO_INITIAL_WINDOW / 4 || (e->stdin_unacked && !e->stdin_q.len)) {
		uint8_t p[4];

		proto_put32(p, e->stdin_unacked);
		send_frame(PROTO_WINDOW, PROTO_FD_STDIN, e->id, p, sizeof(p));
		e->stdin_unacked = 0;
	}
}

struct exec_req {
	char *argv[PROTO_MAX_ARGS + 1];
	char *envp[PROTO_MAX_ENV + PROXY_ENV_MAX + 1];
	size_t argc, envc;
	char *cwd;
	uint32_t uid, gid;
	bool has_uid, has_gid;
	uint64_t timeout_ms;
	bool want_stdin;
};

static void req_free(struct exec_req *r)
{
	size_t i;

	for (i = 0; i < r->argc; i++)
		free(r->argv[i]);
	for (i = 0; i < r->envc; i++)
		free(r->envp[i]);
	free(r->cwd);
}

static char *dup_str(const uint8_t *v, uint32_t len)
{
	char *s = malloc((size_t)len + 1);

	if (s) {
		memcpy(s, v, len);
		s[len] = '\0';
	}
	return s;
}

static const char *parse_exec(struct exec_req *r, const uint8_t *p, uint32_t len)
{
	struct proto_tlv_iter it = { p, p + len };
	const uint8_t *val;
	uint32_t vlen;
	uint8_t tag;
	int ret;

	while ((ret = proto_tlv_next(&it, &tag, &val, &vlen)) > 0) {
		switch (tag) {
		case PROTO_TLV_ARG:
		case PROTO_TLV_ENV:
		case PROTO_TLV_CWD:
			if (!proto_str_ok(val, vlen))
				return "bad string in EXEC";
			if (tag == PROTO_TLV_ARG) {
				if (r->argc == PROTO_MAX_ARGS)
					return "too many arguments";
				if (!(r->argv[r->argc++] = dup_str(val, vlen)))
					return "out of memory";
			} else if (tag == PROTO_TLV_ENV) {
				if (r->envc == PROTO_MAX_ENV)
					return "too many environment entries";
				if (!memchr(val, '=', vlen))
					return "environment entry without '='";
				if (!(r->envp[r->envc++] = dup_str(val, vlen)))
					return "out of memory";
			} else {
				if (r->cwd || !vlen || val[0] != '/')
					return "bad working directory";
				if (!(r->cwd = dup_str(val, vlen)))
					return "out of memory";
			}
			break;
		case PROTO_TLV_UID:
		case PROTO_TLV_GID:
			if (vlen != 4)
				return "bad uid/gid";
			if (tag == PROTO_TLV_UID) {
				r->uid = proto_get32(val);
				r->has_uid = true;
			} else {
				r->gid = proto_get32(val);
				r->has_gid = true;
			}
			break;
		case PROTO_TLV_TIMEOUT_MS:
			if (vlen != 8)
				return "bad timeout";
			r->timeout_ms = proto_get64(val);
			break;
		case PROTO_TLV_STDIN:
			if (vlen != 1)
				return "bad stdin flag";
			r->want_stdin = val[0] != 0;
			break;
		default:
			return "unknown EXEC field";
		}
	}
	if (ret < 0)
		return "malformed EXEC";
	if (!r->argc || !r->argv[0][0])
		return "EXEC without a command";
	r->argv[r->argc] = NULL;
	r->envp[r->envc] = NULL;
	return NULL;
}

/* In the child: become the requested user in a new process group and exec. */
static void child(struct exec_req *r, int in, int out, int err, int report)
{
	const char *path = NULL;
	size_t i;
	int e;

	setsid();
	for (i = 0; i < r->envc; i++)
		if (!strncmp(r->envp[i], "PATH=", 5))
			path = r->envp[i] + 5;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	if (r->has_gid && (setgroups(0, NULL) || setgid(r->gid)))
		goto fail;
	if (r->has_uid && r->uid != 0) {
		/*
		 * A fork bomb of an unprivileged command stops at this many
		 * processes of its user, so the guest stays able to kill it and
		 * to send back the work.  (Root in the guest is not limited; the
		 * host's deadlines end a guest that stops answering.)
		 */
		struct rlimit rl = { SBX_INIT_MAX_USER_PROCS, SBX_INIT_MAX_USER_PROCS };

		setrlimit(RLIMIT_NPROC, &rl);
	}
	if (r->has_uid && setuid(r->uid))
		goto fail;
	if (r->cwd && chdir(r->cwd))
		goto fail;
	signal(SIGPIPE, SIG_DFL);
	if (strchr(r->argv[0], '/')) {
		execve(r->argv[0], r->argv, r->envp);
	} else {
		char buf[PATH_MAX];
		const char *p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		int saved = ENOENT;

		while (*p) {
			const char *colon = strchr(p, ':');
			size_t n = colon ? (size_t)(colon - p) : strlen(p);

			if (n && snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, r->argv[0]) < (int)sizeof(buf)) {
				execve(buf, r->argv, r->envp);
				if (errno != ENOENT && errno != ENOTDIR)
					saved = errno;
			}
			p += n;
			if (*p == ':')
				p++;
		}
		errno = saved;
	}
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(e == ENOENT ? 127 : 126);
}

void exec_start(uint32_t id, const uint8_t *p, uint32_t len)
{
	struct exec_req r = { 0 };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, rep[2] = { -1, -1 };
	struct exec *e = NULL;
	const char *why;
	uint8_t pid_le[4];
	size_t i;
	ssize_t n;
	int child_errno = 0;
	pid_t pid;

	if (!id || (id & PROTO_STREAM_GUEST) || find_exec(id)) {
		send_error(id, "EXEC on a stream id that is 0, the guest's or in use");
		session_over = true;
		return;
	}
	why = parse_exec(&r, p, len);
	if (!why && proxy_env(r.envp, &r.envc))
		why = "out of memory";
	if (why) {
		send_error(id, "%s", why);
		session_over = true;
		goto out;
	}
	for (i = 0; i < PROTO_MAX_STREAMS; i++)
		if (!execs[i].id) {
			e = &execs[i];
			break;
		}
	if (!e) {
		send_error(id, "too many commands running");
		session_over = true;
		goto out;
	}
	if ((r.want_stdin ? pipe2(in, O_CLOEXEC) : ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)) ||
	    pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		send_error(id, "cannot make pipes: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		send_error(id, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		child(&r, in[0], out[1], err[1], rep[1]);
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&rep[1]);
	do
		n = read(rep[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close_fd(&rep[0]);

	e->id = id;
	e->pid = pid;
	e->in_fd = r.want_stdin ? in[1] : -1;
	if (!r.want_stdin)
		close_fd(&in[1]);
	e->out_fd[0] = -1;
	e->out_fd[1] = out[0];
	e->out_fd[2] = err[0];
	e->credit[1] = e->credit[2] = PROTO_INITIAL_WINDOW;
	e->stdin_eof = !r.want_stdin;
	if (r.timeout_ms)
		e->deadline_ms = now_ms() + r.timeout_ms;
	set_nonblock(out[0]);
	set_nonblock(err[0]);
	if (e->in_fd >= 0)
		set_nonblock(e->in_fd);
	if (n == sizeof(child_errno)) {
		/* exec failed: the child exits 126/127; report it like a shell would. */
		char msg[300];
		int m = snprintf(msg, sizeof(msg), "sbx-init: cannot run '%s': %s\n", r.argv[0],
				 strerror(child_errno));

		send_frame(PROTO_DATA, PROTO_FD_STDERR, id, msg, (uint32_t)m);
		e->credit[2] -= (uint32_t)m;
	} else {
		proto_put32(pid_le, (uint32_t)pid);
		send_frame(PROTO_STARTED, 0, id, pid_le, sizeof(pid_le));
	}
	goto out;
fail:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	{
		uint8_t x[8];

		proto_put32(x, 126);
		proto_put32(x + 4, PROTO_EXIT_SPAWN_FAILED);
		send_frame(PROTO_EXIT, 0, id, x, sizeof(x));
	}
out:
	req_free(&r);
}

void exec_reap(void)
{
	int status;
	pid_t pid;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < PROTO_MAX_STREAMS; i++) {
			struct exec *e = &execs[i];

			if (!e->id || e->pid != pid)
				continue;
			e->exited = true;
			e->status = status;
			/* Whatever the leader left running in its group goes with it. */
			kill(-pid, SIGKILL);
			e->drain_deadline_ms = now_ms() + 2000;
			close_fd(&e->in_fd);
			maybe_finish(e);
		}
	}
}

void exec_check_deadlines(void)
{
	uint64_t now = now_ms();
	size_t i;

	for (i = 0; i < PROTO_MAX_STREAMS; i++) {
		struct exec *e = &execs[i];

		if (!e->id)
			continue;
		if (!e->exited && e->deadline_ms && now >= e->deadline_ms && !e->timed_out) {
			e->timed_out = true;
			kill(-e->pid, SIGKILL);
		}
		/* Escaped grandchildren may hold the pipes open: stop waiting for them. */
		if (e->exited && e->drain_deadline_ms && now >= e->drain_deadline_ms) {
			send_eof(e, 1);
			send_eof(e, 2);
			maybe_finish(e);
		}
	}
}

int exec_next_timeout(void)
{
	uint64_t now = now_ms(), best = UINT64_MAX;
	size_t i;

	for (i = 0; i < PROTO_MAX_STREAMS; i++) {
		struct exec *e = &execs[i];

		if (!e->id)
			continue;
		if (!e->exited && e->deadline_ms && e->deadline_ms < best)
			best = e->deadline_ms;
		if (e->exited && e->drain_deadline_ms && e->drain_deadline_ms < best)
			best = e->drain_deadline_ms;
	}
	if (best == UINT64_MAX)
		return -1;
	return best <= now ? 0 : (int)(best - now > 60000 ? 60000 : best - now);
}


void exec_init(void)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_STREAMS; i++) {
		memset(&execs[i], 0, sizeof(execs[i]));
		execs[i].in_fd = execs[i].out_fd[0] = execs[i].out_fd[1] = execs[i].out_fd[2] = -1;
	}
}

void exec_kill_all(void)
{
	size_t i;

	for (i = 0; i < PROTO_MAX_STREAMS; i++)
		if (execs[i].id) {
			kill(-execs[i].pid, SIGKILL);
			exec_free(&execs[i]);
		}
}

/* DATA, EOF, WINDOW, SIGNAL for an exec. */
void exec_frame(const struct proto_hdr *h, const uint8_t *p)
{
	struct exec *e = find_exec(h->stream);

	switch (h->type) {
	case PROTO_DATA:
		if (!e || h->flags != PROTO_FD_STDIN || e->stdin_eof)
			break;	/* late input for a finished command: drop it */
		if (q_append(&e->stdin_q, p, h->length)) {
			send_error(h->stream, "out of memory");
			session_over = true;
			break;
		}
		pump_stdin(e);
		break;
	case PROTO_EOF:
		if (e && h->flags == PROTO_FD_STDIN) {
			e->stdin_eof = true;
			pump_stdin(e);
		}
		break;
	case PROTO_WINDOW:
		if (e && h->length == 4 && (h->flags == 1 || h->flags == 2)) {
			uint64_t c = (uint64_t)e->credit[h->flags] + proto_get32(p);

			e->credit[h->flags] = c > 64u * PROTO_INITIAL_WINDOW ? 64u * PROTO_INITIAL_WINDOW : (uint32_t)c;
		}
		break;
	case PROTO_SIGNAL:
		if (e && h->length == 4 && !e->exited) {
			int sig = (int)proto_get32(p);

			if (sig > 0 && sig < NSIG)
				kill(-e->pid, sig);
		}
		break;
	}
}

/* What each entry exec_poll() added is for. */
static struct exec *poll_owner[EXEC_POLL_MAX];
static int poll_kind[EXEC_POLL_MAX];
static size_t npolled;

size_t exec_poll(struct pollfd *pfd)
{
	size_t i, n = 0;

	for (i = 0; i < PROTO_MAX_STREAMS; i++) {
		struct exec *e = &execs[i];
		int fd;

		if (!e->id)
			continue;
		for (fd = 1; fd <= 2; fd++)
			if (e->out_fd[fd] >= 0 && e->credit[fd] && chan_queued() < CHAN_Q_HIGH) {
				pfd[n] = (struct pollfd){ .fd = e->out_fd[fd], .events = POLLIN };
				poll_owner[n] = e;
				poll_kind[n++] = fd;
			}
		if (e->in_fd >= 0 && e->stdin_q.off < e->stdin_q.len) {
			pfd[n] = (struct pollfd){ .fd = e->in_fd, .events = POLLOUT };
			poll_owner[n] = e;
			poll_kind[n++] = 0;
		}
	}
	npolled = n;
	return n;
}

void exec_io(const struct pollfd *pfd)
{
	size_t i;

	for (i = 0; i < npolled && !session_over; i++) {
		struct exec *e = poll_owner[i];

		if (!pfd[i].revents || !e->id)
			continue;
		if (poll_kind[i])
			pump_output(e, poll_kind[i]);
		else
			pump_stdin(e);
	}
}
