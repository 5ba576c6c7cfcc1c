# The review loop (sbx/review.c, sbx/accept.c, sbx/apply.c, cmd/review.c, cmd/accept.c, cmd/pr.c),
# the pager and colours (cmd/pager.c), completion and the installed man page.
E2E_TESTS += \
	tests/t/t7000-review.sh \
	tests/t/t7010-accept.sh \
	tests/t/t7020-pr.sh \
	tests/t/t7030-completion.sh \
	tests/t/t7040-install.sh
EXTRA_DIST += tests/t/review-lib.sh
# the record's review lines, the check results reader, the accept modes
check_PROGRAMS += tests/unit/test-review
tests_unit_test_review_SOURCES = tests/unit/test-review.c
tests_unit_test_review_CFLAGS = $(UNIT_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_test_review_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-review
