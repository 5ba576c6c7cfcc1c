# tests/: unit (cmocka), t (end-to-end shell), kvm (need /dev/kvm), nested, fuzz, bench.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBGIT2_CFLAGS) $(ZSTD_CFLAGS)
UNIT_LDADD = $(SBX_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-util
tests_unit_test_util_SOURCES = tests/unit/test-util.c
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(UNIT_LDADD)

UNIT_TESTS = tests/unit/test-util

E2E_TESTS = \
	tests/t/t0001-cli-basics.sh

# KVM tests: each *.kvm is a shell script run by tests/kvm/with-kvm.
check_PROGRAMS += tests/kvm/kvm-probe tests/kvm/kvm-smoke
tests_kvm_kvm_probe_SOURCES = tests/kvm/kvm-probe.c
tests_kvm_kvm_probe_LDADD = $(SBX_LIBS)
tests_kvm_kvm_smoke_SOURCES = tests/kvm/kvm-smoke.c tests/kvm/tap.h

KVM_TESTS = \
	tests/kvm/smoke.kvm

# Each area keeps its own test rules, adding to UNIT_TESTS, E2E_TESTS and KVM_TESTS.
include tests/snapshot.mk
include tests/vmm.mk
include tests/sbx.mk

TESTS += $(UNIT_TESTS) $(E2E_TESTS) $(KVM_TESTS)

EXTRA_DIST += \
	$(E2E_TESTS) $(KVM_TESTS) \
	tests/t/test-lib.sh \
	tests/kvm/with-kvm \
	tests/nested/run tests/nested/kernel-dir.sh

# Shortcuts: make check-unit, check-e2e, check-kvm.
check-unit:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(UNIT_TESTS)'
check-e2e:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(E2E_TESTS)'
check-kvm:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(KVM_TESTS)'
.PHONY: check-unit check-e2e check-kvm
