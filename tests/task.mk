# Tests for git sbx task and git sbx demo (sbx/task-run.c, cmd/task.c, cmd/demo.c).
# The test images' sudo: static and set-uid, copied into busybox rootfs tarballs.
check_PROGRAMS += tests/t/helper/sbx-test-sudo
tests_t_helper_sbx_test_sudo_SOURCES = tests/t/helper/sbx-test-sudo.c
tests_t_helper_sbx_test_sudo_CFLAGS = $(GUEST_CFLAGS)
tests_t_helper_sbx_test_sudo_LDFLAGS = -static
EXTRA_DIST += tests/t/task-lib.sh
# A task end to end through the QEMU fallback, and the hostile agents.
E2E_TESTS += tests/t/t5200-task-qemu.sh tests/t/t5210-task-hostile.sh tests/t/t5220-demo.sh
# Two attempts side by side through the QEMU fallback.
E2E_TESTS += tests/t/t5240-task-attempts-qemu.sh
# A serial console flood and guest text for the terminal, through the QEMU fallback.
E2E_TESTS += tests/t/t5230-task-guest-output.sh
# A task on our VMM in the nested harness.
KVM_TESTS += tests/kvm/task.kvm tests/kvm/task-9p.kvm
# Warm bases: build, restore, incremental bundles, a cold run's equal, fallback; the
# command, a changed setup, two tasks at once, gc.
KVM_TESTS += tests/kvm/warm.kvm tests/kvm/warm-ops.kvm
# Attempts on our VMM: three from one warm start, attempts, pick, retry.
KVM_TESTS += tests/kvm/attempts.kvm
# The review loop on our VMM: the gate blocks a breaking agent, passes a fixing one; review, accept.
KVM_TESTS += tests/kvm/review.kvm
EXTRA_DIST += tests/kvm/warm-lib.sh
# Agents (presets, git config, scripts) and the tree names a result may not carry.
check_PROGRAMS += tests/unit/test-agent
tests_unit_test_agent_SOURCES = tests/unit/test-agent.c tests/unit/git-fixture.h
tests_unit_test_agent_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-agent
EXTRA_DIST += tests/bench/task.sh tests/bench/import-lib.sh tests/bench/warm.sh tests/bench/checkpoint.sh
# The hook gate, host hooks, run --staged (through the QEMU fallback).
E2E_TESTS += tests/t/t7100-gate.sh tests/t/t7110-hooks.sh tests/t/t7120-run-staged.sh
E2E_TESTS += tests/t/t7200-checkpoints.sh
# The gate's pure parts: settings, check results, hooks byte for byte, the pre-push rule.
check_PROGRAMS += tests/unit/test-gate
tests_unit_test_gate_SOURCES = tests/unit/test-gate.c tests/unit/git-fixture.h
tests_unit_test_gate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_gate_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-gate
