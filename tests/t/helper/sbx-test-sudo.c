// SPDX-License-Identifier: MIT
/*
 * sbx-test-sudo: the test image's stand-in for sudo.  Real images give the
 * agent user password-less sudo (the VM is the boundary); the busybox test
 * image has no sudo, so this static set-uid-root program plays it, letting
 * the hostile-agent tests act as root in the guest: replace git, write
 * straight to the channel device.  Never installed; only put in test images.
 */
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sudo <command> [<arg>...]\n");
		return 1;
	}
	if (setgroups(0, NULL) || setgid(0) || setuid(0)) {
		perror("sudo");
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "sudo: %s: cannot run it\n", argv[1]);
	return 127;
}
