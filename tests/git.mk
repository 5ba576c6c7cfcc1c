# Tests for the git transport and task records (sbx/bundle.c, sbx/task.c, the task commands).
check_PROGRAMS += tests/unit/test-bundle
tests_unit_test_bundle_SOURCES = tests/unit/test-bundle.c
tests_unit_test_bundle_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_bundle_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-bundle

check_PROGRAMS += tests/unit/test-task
tests_unit_test_task_SOURCES = tests/unit/test-task.c
tests_unit_test_task_CFLAGS = $(UNIT_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_task_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-task
