// SPDX-License-Identifier: MIT
/*
 * Running and stopping the machine (see vmm/vm.h): the event thread, the
 * caller's wait for the end, and stopping every thread.  Each thread calls
 * vm_config.thread_hook first (the confined VMM installs its seccomp filter
 * there, sbx/vmm-child.c); the caller's thread calls it once every other
 * thread runs.
 */
#include "vmm/vm-int.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>


static void *event_thread(void *arg)
{
	struct vm *vm = arg;
	struct epoll_event evs[16];
	int n, i;

	if (vm_thread_hook(vm, VM_THREAD_EVENT, 0))
		return NULL;
	for (;;) {
		n = epoll_wait(vm->epoll_fd, evs, ARRAY_SIZE(evs), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			vm_request_end(vm, VM_END_ERROR, "epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			void (*ready)(void *) = NULL;
			void *opaque = NULL;

			if (!w)
				return NULL;		/* the stop eventfd */
			if (w == (void *)&vm->pause_fd) {
				uint64_t v;

				while (read(vm->pause_fd, &v, sizeof(v)) < 0 && errno == EINTR)
					;
				vm_park(vm, NULL);
				continue;
			}
			pthread_mutex_lock(&vm->watch_lock);
			if (!w->dead) {
				ready = w->ready;
				opaque = w->opaque;
			}
			pthread_mutex_unlock(&vm->watch_lock);
			if (ready)
				ready(opaque);
		}
	}
}

void vm_stop_threads(struct vm *vm)
{
	uint64_t one = 1;
	unsigned i;

	atomic_store(&vm->stopping, true);
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);	/* parked threads see `stopping` */
	pthread_mutex_unlock(&vm->pause_lock);
	for (i = 0; i < vm->nvcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		if (!c->started)
			continue;
		c->run->immediate_exit = 1;
		pthread_kill(c->thread, SIG_KICK);
	}
	/*
	 * Join each vCPU, kicking it again every 100 ms: immediate_exit covers
	 * a kick that lands before KVM_RUN, the repeat covers anything else
	 * that could lose one, so no wait here depends on a single signal.
	 */
	for (i = 0; i < vm->nvcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		if (!c->started)
			continue;
		for (;;) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 100000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(c->thread, NULL, &until) != ETIMEDOUT)
				break;
			c->run->immediate_exit = 1;
			pthread_kill(c->thread, SIG_KICK);
		}
		c->started = false;
	}
	if (vm->event_started) {
		while (write(vm->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(vm->event_thread, NULL);
		vm->event_started = false;
	}
}

void vm_park(struct vm *vm, struct vcpu *c)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	if (c)
		c->run->immediate_exit = 0;
	pthread_mutex_unlock(&vm->pause_lock);
}

static unsigned running_threads(struct vm *vm)
{
	unsigned i, n = vm->event_started;

	for (i = 0; i < vm->nvcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

/*
 * A vCPU parks when KVM_RUN returns EINTR with a pause asked: immediate_exit
 * makes KVM finish the access it last exited for (an MMIO read's data, a
 * port input) and return at once, so a parked vCPU's state is complete
 * (the KVM API's rule before reading it).  The event thread parks between
 * callbacks, so no device is in the middle of a request.
 */
int vm_pause(struct vm *vm)
{
	struct timespec start, now;
	uint64_t one = 1;
	unsigned i, want = running_threads(vm);
	int ret = 0;

	atomic_store(&vm->pause_req, true);
	if (vm->event_started)
		while (write(vm->pause_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < want) {
		struct timespec until;

		for (i = 0; i < vm->nvcpus; i++) {
			struct vcpu *c = &vm->vcpus[i];

			if (!c->started)
				continue;
			c->run->immediate_exit = 1;
			pthread_kill(c->thread, SIG_KICK);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= 5 || atomic_load(&vm->stopping)) {
			ret = sbx_error_set(SBX_ETIMEDOUT, "the machine did not pause (%u of %u threads "
					    "stopped)", vm->parked, want);
			break;
		}
		until = now;
		until.tv_nsec += 20000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &until);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (ret)
		vm_resume(vm);
	return ret;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;	/* no SA_RESTART: KVM_RUN returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_KICK, &sa, NULL);
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int err;

	/* New threads block everything but the kick; signals go to the caller's thread. */
	sigfillset(&all);
	sigdelset(&all, SIG_KICK);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return sbx_error_errno(SBX_ERROR, "cannot start a thread");
	}
	return 0;
}

int vm_run(struct vm *vm, struct vm_result *res)
{
	struct timespec deadline;
	unsigned i;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	install_kick_handler();
	ret = start_thread(&vm->event_thread, event_thread, vm);
	if (ret)
		goto out;
	vm->event_started = true;
	for (i = 0; i < vm->nvcpus; i++) {
		ret = start_thread(&vm->vcpus[i].thread, vcpu_thread, &vm->vcpus[i]);
		if (ret)
			goto out;
		vm->vcpus[i].started = true;
	}
	if (vm_thread_hook(vm, VM_THREAD_MAIN, 0))
		goto out;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(vm->cfg.timeout_ms / 1000);
	deadline.tv_nsec += (long)(vm->cfg.timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->end_lock);
	vm->running = true;
	while (!vm->ended) {
		struct save_req *sr = vm->save_req;

		if (sr && !sr->done) {
			/* vm_save from another thread: do it here, with the lock dropped. */
			pthread_mutex_unlock(&vm->end_lock);
			sr->ret = sr->reset ? vm_reset_now(vm, sr->info) : vm_save_now(vm, sr);
			if (sr->ret)
				snprintf(sr->error, sizeof(sr->error), "%s", sbx_error());
			pthread_mutex_lock(&vm->end_lock);
			sr->done = true;
			pthread_cond_broadcast(&vm->end_cond);
			continue;
		}
		if (!vm->cfg.timeout_ms) {
			pthread_cond_wait(&vm->end_cond, &vm->end_lock);
		} else if (pthread_cond_timedwait(&vm->end_cond, &vm->end_lock, &deadline) == ETIMEDOUT &&
			   !vm->ended) {
			vm->ended = true;
			vm->result.end = VM_END_TIMEOUT;
			snprintf(vm->result.message, sizeof(vm->result.message),
				 "the guest was still running after %llu.%03llu s",
				 (unsigned long long)(vm->cfg.timeout_ms / 1000),
				 (unsigned long long)(vm->cfg.timeout_ms % 1000));
		}
	}
	vm->running = false;
	if (vm->save_req && !vm->save_req->done) {
		vm->save_req->ret = SBX_ERROR;
		snprintf(vm->save_req->error, sizeof(vm->save_req->error),
			 "the VM ended first (%s)", vm->result.message);
		vm->save_req->done = true;
		pthread_cond_broadcast(&vm->end_cond);
	}
	pthread_mutex_unlock(&vm->end_lock);
	pr_debug("vm: ending (%s)", vm->result.message);
out:
	vm_stop_threads(vm);
	pr_debug("vm: every thread stopped");
	pthread_mutex_lock(&vm->end_lock);
	*res = vm->result;
	pthread_mutex_unlock(&vm->end_lock);
	return ret;
}

int vm_thread_hook(struct vm *vm, enum vm_thread_kind kind, unsigned index)
{
	static const char *const names[] = { "the caller's thread", "the event thread", "a vCPU thread" };

	if (!vm->cfg.thread_hook || !vm->cfg.thread_hook(kind, index, vm->cfg.hook_opaque))
		return 0;
	vm_request_end(vm, VM_END_ERROR, "%s: %s", names[kind], sbx_error());
	return -1;
}

int vm_get_stats(struct vm *vm, struct vm_stats *st, int status_fd)
{
	unsigned char *vec;
	uint64_t pages, i, page = (uint64_t)sysconf(_SC_PAGESIZE);
	char buf[4096], *line;
	int fd = status_fd;
	ssize_t n;

	memset(st, 0, sizeof(*st));
	pages = (vm->mem.size + page - 1) / page;
	vec = malloc(pages);
	if (!vec)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (mincore(vm->mem.host, vm->mem.size, vec) == 0)
		for (i = 0; i < pages; i++)
			st->guest_resident += (vec[i] & 1) * page;
	free(vec);
	if (fd < 0)
		fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);
	if (fd >= 0 && fd != status_fd)
		close(fd);
	if (n < 0)
		return sbx_error_errno(SBX_EIO, "/proc/self/status");
	buf[n] = 0;
	line = strstr(buf, "\nVmRSS:");
	if (line)
		st->rss = strtoull(line + 7, NULL, 10) * 1024;
	return 0;
}

