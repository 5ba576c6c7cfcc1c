# Tests for snapshot/ (unit, e2e, kvm, fuzz); adds to UNIT_TESTS, E2E_TESTS, KVM_TESTS.
QCOW2_TEST_UTIL = tests/unit/qcow2-test-util.h

check_PROGRAMS += tests/unit/test-qcow2
tests_unit_test_qcow2_SOURCES = tests/unit/test-qcow2.c $(QCOW2_TEST_UTIL)
tests_unit_test_qcow2_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test-qcow2

check_PROGRAMS += tests/unit/test-qcow2-oracle
tests_unit_test_qcow2_oracle_SOURCES = tests/unit/test-qcow2-oracle.c $(QCOW2_TEST_UTIL)
tests_unit_test_qcow2_oracle_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_oracle_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-qcow2-oracle

check_PROGRAMS += tests/unit/test-qcow2-random
tests_unit_test_qcow2_random_SOURCES = tests/unit/test-qcow2-random.c $(QCOW2_TEST_UTIL)
tests_unit_test_qcow2_random_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_random_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-qcow2-random

check_PROGRAMS += tests/unit/test-qcow2-crash
tests_unit_test_qcow2_crash_SOURCES = tests/unit/test-qcow2-crash.c $(QCOW2_TEST_UTIL)
tests_unit_test_qcow2_crash_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_crash_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-qcow2-crash

# Disk images opened by their format (snapshot/image-format.c).
check_PROGRAMS += tests/unit/test-disk-format
tests_unit_test_disk_format_SOURCES = tests/unit/test-disk-format.c
tests_unit_test_disk_format_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_disk_format_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-disk-format

E2E_TESTS += tests/t/t1000-disk-cli.sh

# Fuzzing the qcow2 parsers (header, extensions, L1/L2, subclusters, compressed clusters).
check_PROGRAMS += tests/fuzz/check-qcow2
tests_fuzz_check_qcow2_SOURCES = tests/fuzz/fuzz-qcow2.c tests/fuzz/driver.c
tests_fuzz_check_qcow2_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/qcow2.fuzz
EXTRA_DIST += tests/fuzz/corpus/qcow2
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-qcow2
tests_fuzz_fuzz_qcow2_SOURCES = tests/fuzz/fuzz-qcow2.c
tests_fuzz_fuzz_qcow2_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_qcow2_LDADD = $(SBX_LIBS)
endif

# tests/bench/disk.sh drives this (built by make check, not run by it).
check_PROGRAMS += tests/bench/disk-bench
tests_bench_disk_bench_SOURCES = tests/bench/disk-bench.c
tests_bench_disk_bench_LDADD = $(SBX_LIBS)
EXTRA_DIST += tests/bench/disk.sh

check_PROGRAMS += tests/unit/test-qcow2-powerloss
tests_unit_test_qcow2_powerloss_SOURCES = tests/unit/test-qcow2-powerloss.c $(QCOW2_TEST_UTIL)
tests_unit_test_qcow2_powerloss_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_powerloss_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-qcow2-powerloss

# Memory snapshots: the state file (snapshot/vmstate.c) and the memory file (snapshot/memfile.c).
check_PROGRAMS += tests/unit/test-vmstate
tests_unit_test_vmstate_SOURCES = tests/unit/test-vmstate.c
tests_unit_test_vmstate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_vmstate_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-vmstate

check_PROGRAMS += tests/unit/test-memfile
tests_unit_test_memfile_SOURCES = tests/unit/test-memfile.c
tests_unit_test_memfile_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_memfile_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-memfile

# Writing and mapping guest RAM, timed (built by make check, not run by it):
#   tests/bench/memfile-bench <dir> [<RAM MiB> [<% data pages> [<% dirty>]]]
check_PROGRAMS += tests/bench/memfile-bench
tests_bench_memfile_bench_SOURCES = tests/bench/memfile-bench.c
tests_bench_memfile_bench_LDADD = $(SBX_LIBS)

# Fuzzing the state-file parser and the record cursor.
check_PROGRAMS += tests/fuzz/check-vmstate
tests_fuzz_check_vmstate_SOURCES = tests/fuzz/fuzz-vmstate.c tests/fuzz/driver.c
tests_fuzz_check_vmstate_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/vmstate.fuzz
EXTRA_DIST += tests/fuzz/corpus/vmstate tests/fuzz/vmstate-corpus.py
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-vmstate
tests_fuzz_fuzz_vmstate_SOURCES = tests/fuzz/fuzz-vmstate.c
tests_fuzz_fuzz_vmstate_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_vmstate_LDADD = $(SBX_LIBS)
endif

# Checkpoint layers: freeze-and-switch a running disk, squash a middle layer (snapshot/qcow2-switch.c).
check_PROGRAMS += tests/unit/test-qcow2-switch
tests_unit_test_qcow2_switch_SOURCES = tests/unit/test-qcow2-switch.c $(QCOW2_TEST_UTIL)
tests_unit_test_qcow2_switch_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_qcow2_switch_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-qcow2-switch
