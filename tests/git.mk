# Tests for the git transport and task records (sbx/bundle.c, sbx/task.c, the task commands).
check_PROGRAMS += tests/unit/test-bundle
tests_unit_test_bundle_SOURCES = tests/unit/test-bundle.c tests/unit/git-fixture.h
tests_unit_test_bundle_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_bundle_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-bundle
# Incremental bundles for a restored warm base's guest (prerequisites it has), against git.
check_PROGRAMS += tests/unit/test-bundle-incr
tests_unit_test_bundle_incr_SOURCES = tests/unit/test-bundle-incr.c tests/unit/git-fixture.h
tests_unit_test_bundle_incr_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_bundle_incr_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-bundle-incr

check_PROGRAMS += tests/unit/test-task
tests_unit_test_task_SOURCES = tests/unit/test-task.c tests/unit/git-fixture.h
tests_unit_test_task_CFLAGS = $(UNIT_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_task_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-task
# Attempts: the record's version 2 (steps, attempts), views, sbx.parallel.
check_PROGRAMS += tests/unit/test-attempt
tests_unit_test_attempt_SOURCES = tests/unit/test-attempt.c tests/unit/git-fixture.h
tests_unit_test_attempt_CFLAGS = $(UNIT_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_attempt_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-attempt

# Drives sbx/task.c and sbx/bundle.c without a VM for the e2e tests and tests/bench/import.sh.
check_PROGRAMS += tests/t/helper/sbx-test-task
tests_t_helper_sbx_test_task_SOURCES = tests/t/helper/sbx-test-task.c
tests_t_helper_sbx_test_task_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS)
tests_t_helper_sbx_test_task_LDADD = $(SBX_LIBS)

E2E_TESTS += \
	tests/t/t5100-task-list-show.sh \
	tests/t/t5110-task-diff-logs.sh \
	tests/t/t5120-task-rm-gc.sh \
	tests/t/t5130-task-hostile-result.sh \
	tests/t/t5160-attempts.sh \
	tests/t/t5140-task-escape.sh \
	tests/t/t5150-task-audit.sh
EXTRA_DIST += tests/t/helper/make-bomb.py

# Fuzzing the import of result bundles (header parser, pack stream, verification).
check_PROGRAMS += tests/fuzz/check-bundle
tests_fuzz_check_bundle_SOURCES = tests/fuzz/fuzz-bundle.c tests/fuzz/driver.c
tests_fuzz_check_bundle_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS)
tests_fuzz_check_bundle_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/bundle.fuzz
EXTRA_DIST += tests/fuzz/corpus/bundle tests/fuzz/bundle-corpus.sh tests/bench/import.sh
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-bundle
tests_fuzz_fuzz_bundle_SOURCES = tests/fuzz/fuzz-bundle.c
tests_fuzz_fuzz_bundle_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS)
tests_fuzz_fuzz_bundle_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_bundle_LDADD = $(SBX_LIBS)
endif

# Fuzzing the pack stream scanner (sbx/pack-scan.c) on its own: fast, no git.
check_PROGRAMS += tests/fuzz/check-pack-scan
tests_fuzz_check_pack_scan_SOURCES = tests/fuzz/fuzz-pack-scan.c tests/fuzz/driver.c
tests_fuzz_check_pack_scan_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_fuzz_check_pack_scan_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/pack-scan.fuzz
EXTRA_DIST += tests/fuzz/corpus/pack-scan
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-pack-scan
tests_fuzz_fuzz_pack_scan_SOURCES = tests/fuzz/fuzz-pack-scan.c
tests_fuzz_fuzz_pack_scan_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS)
tests_fuzz_fuzz_pack_scan_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_pack_scan_LDADD = $(SBX_LIBS)
endif
