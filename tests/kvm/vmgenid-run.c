// SPDX-License-Identifier: MIT
/*
 * For tests/kvm/vmgenid.kvm: run a VM on our VMM (vm_create/vm_run, no
 * channel, no sandbox) and give it a new VM generation
 * (vm_bump_generation) each time its serial log gains a line
 * "sbx-test: bump", the way a snapshot restore will.  Exits with the
 * guest's exit status, or 100 + enum vm_end when it set none.
 *
 *   vmgenid-run KERNEL INITRD CMDLINE SERIAL_LOG
 */
#include "vmm/vm.h"
#include "util/error.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct watch {
	struct vm *vm;
	const char *log;
	atomic_bool stop;
};

static unsigned count_bumps(const char *path)
{
	static char buf[1 << 20];
	unsigned n = 0;
	ssize_t got;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return 0;
	buf[got] = '\0';
	/* A whole line: the guest's tty ends it with "\r\n". */
	for (p = buf; (p = strstr(p, "sbx-test: bump")); p++)
		if (p[14] == '\r' || p[14] == '\n')
			n++;
	return n;
}

static void *watcher(void *arg)
{
	struct watch *w = arg;
	unsigned done = 0;

	while (!atomic_load(&w->stop)) {
		unsigned want = count_bumps(w->log);

		for (; done < want; done++) {
			if (vm_bump_generation(w->vm))
				fprintf(stderr, "vmgenid-run: bump: %s\n", sbx_error());
			else
				fprintf(stderr, "vmgenid-run: new VM generation %u\n", done + 1);
		}
		usleep(50000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct vm_config cfg = VM_CONFIG_INIT;
	struct vm_result res;
	struct watch w = { 0 };
	struct vm *vm = NULL;
	pthread_t th;
	int fd, status;

	if (argc != 5) {
		fprintf(stderr, "usage: vmgenid-run KERNEL INITRD CMDLINE SERIAL_LOG\n");
		return 2;
	}
	fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(argv[4]);
		return 2;
	}
	cfg.kernel = argv[1];
	cfg.initrd = argv[2];
	cfg.cmdline = argv[3];
	cfg.cpus = 1;
	cfg.mem_size = 256ULL << 20;
	cfg.timeout_ms = 240000;
	cfg.serial_fd = fd;
	if (vm_create(&vm, &cfg)) {
		fprintf(stderr, "vmgenid-run: %s\n", sbx_error());
		return 3;
	}
	w.vm = vm;
	w.log = argv[4];
	if (pthread_create(&th, NULL, watcher, &w)) {
		vm_free(vm);
		return 3;
	}
	if (vm_run(vm, &res)) {
		fprintf(stderr, "vmgenid-run: %s\n", sbx_error());
		res.end = VM_END_ERROR;
		res.status_set = false;
	}
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	status = res.status_set ? res.status : 100 + (int)res.end;
	if (!res.status_set)
		fprintf(stderr, "vmgenid-run: the VM ended (%d) without a status: %s\n", (int)res.end,
			res.message);
	vm_free(vm);
	close(fd);
	return status;
}
