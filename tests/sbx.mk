# Tests for sbx/ (unit, e2e); adds to UNIT_TESTS, E2E_TESTS, KVM_TESTS.
check_PROGRAMS += tests/unit/test-channel
tests_unit_test_channel_SOURCES = tests/unit/test-channel.c
tests_unit_test_channel_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_channel_LDADD = $(UNIT_LDADD)
# It runs the real guest/sbx-init --serve (built by make all) over a socketpair.
UNIT_TESTS += tests/unit/test-channel
