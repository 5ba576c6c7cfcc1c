# Tests for git sbx task and git sbx demo (sbx/task-run.c, cmd/task.c, cmd/demo.c).
# The test images' sudo: static and set-uid, copied into busybox rootfs tarballs.
check_PROGRAMS += tests/t/helper/sbx-test-sudo
tests_t_helper_sbx_test_sudo_SOURCES = tests/t/helper/sbx-test-sudo.c
tests_t_helper_sbx_test_sudo_CFLAGS = $(GUEST_CFLAGS)
tests_t_helper_sbx_test_sudo_LDFLAGS = -static
EXTRA_DIST += tests/t/task-lib.sh
# A task end to end through the QEMU fallback, and the hostile agents.
E2E_TESTS += tests/t/t5200-task-qemu.sh tests/t/t5210-task-hostile.sh
# A task on our VMM in the nested harness.
KVM_TESTS += tests/kvm/task.kvm
