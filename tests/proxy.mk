# Tests for the egress proxy's host side (sbx/http-req.c, tls-hello.c, policy.c, proxy*.c).
check_PROGRAMS += tests/unit/test-http-req
tests_unit_test_http_req_SOURCES = tests/unit/test-http-req.c
tests_unit_test_http_req_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_http_req_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-http-req
check_PROGRAMS += tests/unit/test-tls-hello
tests_unit_test_tls_hello_SOURCES = tests/unit/test-tls-hello.c tests/unit/tls-hello-build.h
tests_unit_test_tls_hello_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tls_hello_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-tls-hello
check_PROGRAMS += tests/unit/test-policy
tests_unit_test_policy_SOURCES = tests/unit/test-policy.c
tests_unit_test_policy_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_policy_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-policy
# git sbx proxy end to end: curl and raw clients against upstreams on 127.0.0.1.
E2E_TESTS += tests/t/t6000-proxy.sh tests/t/t6010-proxy-upstream.sh
EXTRA_DIST += tests/t/helper/proxy-test.py
# The request-head and ClientHello parsers and the rule parser, fuzzed (pattern in tests/local.mk).
check_PROGRAMS += tests/fuzz/check-proxy-parse
tests_fuzz_check_proxy_parse_SOURCES = tests/fuzz/fuzz-proxy-parse.c tests/fuzz/driver.c
tests_fuzz_check_proxy_parse_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/proxy-parse.fuzz
EXTRA_DIST += tests/fuzz/corpus/proxy-parse
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-proxy-parse
tests_fuzz_fuzz_proxy_parse_SOURCES = tests/fuzz/fuzz-proxy-parse.c
tests_fuzz_fuzz_proxy_parse_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_proxy_parse_LDADD = $(SBX_LIBS)
endif
EXTRA_DIST += tests/bench/net.sh
# The proxy object as the lead wires it: socketpair clients, events, hooks, limits, free.
check_PROGRAMS += tests/unit/test-proxy
tests_unit_test_proxy_SOURCES = tests/unit/test-proxy.c tests/unit/tls-hello-build.h
tests_unit_test_proxy_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_proxy_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-proxy
# A task's network end to end on our VMM: policy, refusals, a secret through the CA.
KVM_TESTS += tests/kvm/net.kvm
EXTRA_DIST += tests/t/helper/key-server.py
# The real Claude Code CLI as the agent, against a fake Messages API on 127.0.0.1
# (it builds the claude image: minutes; .ci/run runs it once, not again in distcheck).
IMAGE_E2E_TESTS += tests/t/t5300-claude.sh
EXTRA_DIST += tests/net/README.md tests/net/fake-anthropic.py tests/net/connect-proxy.py \
	tests/net/make-test-ca.sh tests/net/claude-on-host.sh tests/net/script-sentinel.json
