# tests/: unit (cmocka), t (end-to-end shell), kvm (need /dev/kvm), nested, fuzz, bench.
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBGIT2_CFLAGS) $(ZSTD_CFLAGS) $(JANSSON_CFLAGS) \
	$(OPENSSL_CFLAGS)
UNIT_LDADD = $(SBX_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-util
tests_unit_test_util_SOURCES = tests/unit/test-util.c
tests_unit_test_util_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_util_LDADD = $(UNIT_LDADD)

# util/quote.c: guest text made safe for a terminal.
check_PROGRAMS += tests/unit/test-quote
tests_unit_test_quote_SOURCES = tests/unit/test-quote.c
tests_unit_test_quote_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_quote_LDADD = $(UNIT_LDADD)

UNIT_TESTS = tests/unit/test-util tests/unit/test-quote

E2E_TESTS = \
	tests/t/t0001-cli-basics.sh \
	tests/t/t0002-nested-harness.sh \
	tests/t/t0003-kvm-check.sh
IMAGE_E2E_TESTS =

# KVM tests: each *.kvm is a shell script run by tests/kvm/with-kvm.
check_PROGRAMS += tests/kvm/kvm-probe tests/kvm/kvm-smoke
tests_kvm_kvm_probe_SOURCES = tests/kvm/kvm-probe.c
tests_kvm_kvm_probe_LDADD = $(SBX_LIBS)
tests_kvm_kvm_smoke_SOURCES = tests/kvm/kvm-smoke.c tests/kvm/tap.h

KVM_TESTS = \
	tests/kvm/smoke.kvm tests/kvm/probe.kvm

# Fuzz targets (tests/fuzz/fuzz-<name>.c define LLVMFuzzerTestOneInput).
# In every build each is linked with tests/fuzz/driver.c as
# tests/fuzz/check-<name> and runs for a few seconds in make check
# (FUZZ_TESTS, over the seed corpus tests/fuzz/corpus/<name>/).  With
# ./configure --enable-fuzzing CC=clang, tests/fuzz/fuzz-<name> is also built
# with libFuzzer for long runs.  Pattern, for a target "foo":
#   check_PROGRAMS += tests/fuzz/check-foo
#   tests_fuzz_check_foo_SOURCES = tests/fuzz/fuzz-foo.c tests/fuzz/driver.c
#   tests_fuzz_check_foo_LDADD = $(SBX_LIBS)
#   FUZZ_TESTS += tests/fuzz/foo.fuzz
#   if ENABLE_FUZZING
#   noinst_PROGRAMS += tests/fuzz/fuzz-foo
#   tests_fuzz_fuzz_foo_SOURCES = tests/fuzz/fuzz-foo.c
#   tests_fuzz_fuzz_foo_LDFLAGS = $(FUZZ_LDFLAGS)
#   tests_fuzz_fuzz_foo_LDADD = $(SBX_LIBS)
#   endif
# where tests/fuzz/foo.fuzz is a two-line script:
#   exec "$SBX_BUILD_DIR/tests/fuzz/check-foo" "$SBX_SRC_DIR/tests/fuzz/corpus/foo"
FUZZ_TESTS =
EXTRA_DIST += tests/fuzz/driver.c

# Each area keeps its own test rules, adding to UNIT_TESTS, E2E_TESTS and KVM_TESTS.
include tests/snapshot.mk
include tests/vmm.mk
include tests/virtio.mk
include tests/sbx.mk
include tests/git.mk
include tests/task.mk
include tests/proxy.mk
include tests/review.mk

# KVM_CHECK_TESTS, IMAGE_CHECK_TESTS and E2E_CHECK_TESTS are what make check
# runs of KVM_TESTS, IMAGE_E2E_TESTS (end-to-end tests that build an image of
# their own, for minutes) and E2E_TESTS; .ci/run empties the first two for
# distcheck and keeps only the end-to-end tests that boot no VM, having run
# them all just before.
KVM_CHECK_TESTS = $(KVM_TESTS)
IMAGE_CHECK_TESTS = $(IMAGE_E2E_TESTS)
E2E_CHECK_TESTS = $(E2E_TESTS)
TESTS += $(UNIT_TESTS) $(E2E_CHECK_TESTS) $(FUZZ_TESTS) $(KVM_CHECK_TESTS) $(IMAGE_CHECK_TESTS)

EXTRA_DIST += \
	$(E2E_TESTS) $(IMAGE_E2E_TESTS) $(KVM_TESTS) $(FUZZ_TESTS) \
	tests/t/test-lib.sh \
	tests/kvm/with-kvm \
	tests/nested/run tests/nested/kernel-dir.sh

# Shortcuts: make check-unit, check-e2e, check-kvm.
check-unit:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(UNIT_TESTS)'
check-e2e:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(E2E_TESTS) $(IMAGE_E2E_TESTS)'
check-kvm:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(KVM_TESTS)'
check-fuzz:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(FUZZ_TESTS)'
.PHONY: check-unit check-e2e check-kvm check-fuzz
