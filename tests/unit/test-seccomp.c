// SPDX-License-Identifier: MIT
/*
 * sbx/seccomp.c and sbx/landlock.c on the host kernel (no KVM needed):
 * each case forks, installs a filter in the child and makes calls there;
 * an allowed call returns, a forbidden one kills the child with SIGSYS.
 */
#include "sbx/landlock.h"
#include "sbx/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

/* Run fn in a child under `kind`; its wait status. */
static int in_child(enum sbx_filter kind, int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || sbx_seccomp_install(kind))
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exit(int status, int code)
{
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), code);
}

static void assert_sigsys(int status)
{
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_programs_are_well_formed(void **state)
{
	struct sock_filter f[SBX_FILTER_MAX_INSNS];
	enum sbx_filter k;

	(void)state;
	for (k = SBX_FILTER_BASE; k <= SBX_FILTER_CONTROL; k++) {
		size_t n = sbx_seccomp_build(f, k);

		assert_true(n > 8 && n < SBX_FILTER_MAX_INSNS);
		/* the architecture first, killed on a mismatch; the last word: kill */
		assert_int_equal(f[0].k, offsetof(struct seccomp_data, arch));
		assert_int_equal(f[1].k, AUDIT_ARCH_X86_64);
		assert_int_equal(f[2].k, SECCOMP_RET_KILL_PROCESS);
		assert_int_equal(f[n - 1].k, SECCOMP_RET_KILL_PROCESS);
	}
}

static int do_getpid_write(void)
{
	return getpid() > 0 && write(STDERR_FILENO, "", 0) == 0 ? 0 : 1;
}

static int do_openat(void)
{
	syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
	return 0;
}

static void test_allowed_and_forbidden(void **state)
{
	enum sbx_filter k;

	(void)state;
	for (k = SBX_FILTER_BASE; k <= SBX_FILTER_CONTROL; k++) {
		assert_exit(in_child(k, do_getpid_write), 0);
		assert_sigsys(in_child(k, do_openat));
	}
}

static int do_mmap_rw(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED;
}

static int do_mmap_exec(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static void test_no_exec_mappings(void **state)
{
	(void)state;
	assert_exit(in_child(SBX_FILTER_VCPU, do_mmap_rw), 0);
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_mmap_exec));
	assert_sigsys(in_child(SBX_FILTER_BASE, do_mmap_exec));
}

static int do_tiocsti(void)
{
	char c = 'x';

	ioctl(STDERR_FILENO, TIOCSTI, &c);
	return 0;
}

static int do_kvm_run_on_bad_fd(void)
{
	/* allowed by the filter; the kernel says EBADF */
	return syscall(SYS_ioctl, -1, 0xae80 /* KVM_RUN */, 0) < 0 && errno == EBADF ? 0 : 1;
}

static void test_ioctl_requests(void **state)
{
	(void)state;
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_tiocsti));
	assert_exit(in_child(SBX_FILTER_VCPU, do_kvm_run_on_bad_fd), 0);
	/* KVM_RUN belongs to vCPU threads only */
	assert_sigsys(in_child(SBX_FILTER_EVENT, do_kvm_run_on_bad_fd));
	assert_sigsys(in_child(SBX_FILTER_MAIN, do_kvm_run_on_bad_fd));
}

static int do_lock_and_dup(void)
{
	struct flock lk = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int fd;

	/* allowed: a lock on an fd (the kernel's answer does not matter) and an O_CLOEXEC dup */
	(void)fcntl(STDERR_FILENO, F_OFD_SETLK, &lk);
	fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	return fd > STDERR_FILENO && close(fd) == 0 ? 0 : 1;
}

static int do_setfl(void)
{
	fcntl(STDERR_FILENO, F_SETFL, 0);
	return 0;
}

static int do_dup_inheritable(void)
{
	fcntl(STDERR_FILENO, F_DUPFD, 0);
	return 0;
}

static int do_recvmsg_close(void)
{
	struct msghdr m = { 0 };

	/* the filter lets both through; the kernel says EBADF */
	if (recvmsg(-1, &m, MSG_CMSG_CLOEXEC) != -1 || errno != EBADF)
		return 1;
	return close(-1) == -1 && errno == EBADF ? 0 : 2;
}

static int do_set_memory_region(void)
{
	return syscall(SYS_ioctl, -1, KVM_SET_USER_MEMORY_REGION, 0) < 0 && errno == EBADF ? 0 : 1;
}

/* What a checkpoint needs: fds received on the control thread, locks and a dup on the main one. */
static void test_checkpoint_calls(void **state)
{
	(void)state;
	assert_exit(in_child(SBX_FILTER_MAIN, do_lock_and_dup), 0);
	assert_exit(in_child(SBX_FILTER_BASE, do_lock_and_dup), 0);
	assert_sigsys(in_child(SBX_FILTER_MAIN, do_setfl));
	assert_sigsys(in_child(SBX_FILTER_MAIN, do_dup_inheritable));
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_lock_and_dup));
	assert_sigsys(in_child(SBX_FILTER_EVENT, do_lock_and_dup));
	assert_sigsys(in_child(SBX_FILTER_CONTROL, do_lock_and_dup));
	assert_exit(in_child(SBX_FILTER_CONTROL, do_recvmsg_close), 0);
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_recvmsg_close));
	assert_sigsys(in_child(SBX_FILTER_EVENT, do_recvmsg_close));
	assert_sigsys(in_child(SBX_FILTER_MAIN, do_recvmsg_close));
	assert_exit(in_child(SBX_FILTER_MAIN, do_set_memory_region), 0);
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_set_memory_region));
	assert_sigsys(in_child(SBX_FILTER_EVENT, do_set_memory_region));
}

static void *thread_fn(void *arg)
{
	return arg;
}

static int do_threads_not_processes(void)
{
	pthread_t t;
	void *ret = NULL;

	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 2;
	if (pthread_create(&t, NULL, thread_fn, (void *)1) || pthread_join(t, &ret) || ret != (void *)1)
		return 3;
	fork();			/* clone without CLONE_THREAD */
	return 4;
}

static void test_threads_not_processes(void **state)
{
	(void)state;
	assert_sigsys(in_child(SBX_FILTER_BASE, do_threads_not_processes));
}

/* A signal to its own thread is the vCPU kick; to its parent, a way out. */
static int do_tgkill_self(void)
{
	return syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) ? 1 : 0;
}

static int do_tgkill_parent(void)
{
	syscall(SYS_tgkill, getppid(), getppid(), 0);
	return 0;
}

static void test_signals_only_its_own_threads(void **state)
{
	(void)state;
	assert_exit(in_child(SBX_FILTER_VCPU, do_tgkill_self), 0);
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_tgkill_parent));
	assert_sigsys(in_child(SBX_FILTER_BASE, do_tgkill_parent));
}

static int do_start_thread(void)
{
	pthread_t t;

	pthread_create(&t, NULL, thread_fn, NULL);
	return 0;
}

static void test_no_threads_after_base(void **state)
{
	(void)state;
	assert_sigsys(in_child(SBX_FILTER_MAIN, do_start_thread));
}

static int do_stack(void)
{
	/* as each VMM thread does: its own list on the inherited BASE */
	if (sbx_seccomp_install(SBX_FILTER_VCPU))
		return 1;
	if (getpid() <= 0)
		return 2;
	/* allowed by BASE, not by VCPU: killed by the stacked filter */
	syscall(SYS_close, -1);
	return 3;
}

static int do_tsync(void)
{
	struct sock_filter f[SBX_FILTER_MAX_INSNS];
	struct sock_fprog prog = { .len = (unsigned short)sbx_seccomp_build(f, SBX_FILTER_VCPU),
				   .filter = f };

	syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	return 0;
}

static void test_threads_stack_their_own(void **state)
{
	(void)state;
	assert_sigsys(in_child(SBX_FILTER_BASE, do_stack));
	assert_sigsys(in_child(SBX_FILTER_BASE, do_tsync));
	/* the narrower lists cannot add filters: nothing runs there that should */
	assert_sigsys(in_child(SBX_FILTER_VCPU, do_stack));
}

static void test_landlock_denies_everything(void **state)
{
	char note[256];
	int status, rc;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || fd < 0)
			_exit(100);
		rc = sbx_landlock_deny_fs(note, sizeof(note));
		if (rc == 1)
			_exit(77);
		if (rc)
			_exit(101);
		if (open("/", O_RDONLY) >= 0 || errno != EACCES)
			_exit(1);
		if (open("/proc/self/status", O_RDONLY) >= 0 || errno != EACCES)
			_exit(2);
		if (open("/tmp/sbx-landlock-test", O_WRONLY | O_CREAT, 0600) >= 0 || errno != EACCES)
			_exit(3);
		/* what was open stays usable */
		_exit(read(fd, note, 1) == 0 ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_programs_are_well_formed),
		cmocka_unit_test(test_allowed_and_forbidden),
		cmocka_unit_test(test_no_exec_mappings),
		cmocka_unit_test(test_ioctl_requests),
		cmocka_unit_test(test_checkpoint_calls),
		cmocka_unit_test(test_threads_not_processes),
		cmocka_unit_test(test_signals_only_its_own_threads),
		cmocka_unit_test(test_no_threads_after_base),
		cmocka_unit_test(test_threads_stack_their_own),
		cmocka_unit_test(test_landlock_denies_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
