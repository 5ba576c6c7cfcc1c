# Tests for sbx/ (unit, e2e); adds to UNIT_TESTS, E2E_TESTS, KVM_TESTS.
check_PROGRAMS += tests/unit/test-channel
tests_unit_test_channel_SOURCES = tests/unit/test-channel.c
tests_unit_test_channel_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_channel_LDADD = $(UNIT_LDADD)
# It runs the real guest/sbx-init --serve (built by make all) over a socketpair.
UNIT_TESTS += tests/unit/test-channel
# Streams the guest opens (protocol v2): the real sbx-init's proxy listener, an echo server on
# 127.0.0.1 behind the host's open callback, and a hostile guest's raw frames.
check_PROGRAMS += tests/unit/test-channel-streams
tests_unit_test_channel_streams_SOURCES = tests/unit/test-channel-streams.c
tests_unit_test_channel_streams_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_channel_streams_LDADD = $(UNIT_LDADD) -lpthread
UNIT_TESTS += tests/unit/test-channel-streams
# Protocol v4: quiesce and resume around a running exec, notes, a restored guest's new host.
check_PROGRAMS += tests/unit/test-channel-quiesce
tests_unit_test_channel_quiesce_SOURCES = tests/unit/test-channel-quiesce.c
tests_unit_test_channel_quiesce_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_channel_quiesce_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-channel-quiesce
# The serial console into a capped file (sbx/console-log.c), both backends' path.
check_PROGRAMS += tests/unit/test-console-log
tests_unit_test_console_log_SOURCES = tests/unit/test-console-log.c
tests_unit_test_console_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_console_log_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-console-log
# The VMM process's seccomp filters and Landlock ruleset, on the host kernel (sbx/seccomp.c).
check_PROGRAMS += tests/unit/test-seccomp
tests_unit_test_seccomp_SOURCES = tests/unit/test-seccomp.c
tests_unit_test_seccomp_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_seccomp_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-seccomp
# The task disk's cap (sbx/disk-limit.c) over a real file.
check_PROGRAMS += tests/unit/test-disk-limit
tests_unit_test_disk_limit_SOURCES = tests/unit/test-disk-limit.c
tests_unit_test_disk_limit_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_disk_limit_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-disk-limit
# The checkpoint store (sbx/checkpoint*.c): records, current, drop by squashing, gc after a crash.
check_PROGRAMS += tests/unit/test-checkpoint
tests_unit_test_checkpoint_SOURCES = tests/unit/test-checkpoint.c tests/unit/qcow2-test-util.h
tests_unit_test_checkpoint_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_checkpoint_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-checkpoint
# Snapshot and checkpoint directories (sbx/machine-snap.c): parents, layers, temp files.
check_PROGRAMS += tests/unit/test-snapdir
tests_unit_test_snapdir_SOURCES = tests/unit/test-snapdir.c
tests_unit_test_snapdir_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_snapdir_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-snapdir
# git sbx run on our VMM (busybox image, channel, overlay root, qcow2 task disk).
KVM_TESTS += tests/kvm/run.kvm
# Checkpoints in a task, rewind, continue, and git sbx killed in the middle of them.
KVM_TESTS += tests/kvm/rewind.kvm
# The VMM process's confinement: seccomp per thread, no_new_privs, Landlock, fds, SIGSYS.
KVM_TESTS += tests/kvm/confine.kvm
EXTRA_DIST += tests/kvm/image-lib.sh
# git sbx run through the QEMU fallback (no KVM needed).
E2E_TESTS += tests/t/t2000-run-qemu.sh
# The channel's host-side frame parser, fuzzed (see the pattern in tests/local.mk).
check_PROGRAMS += tests/fuzz/check-channel
tests_fuzz_check_channel_SOURCES = tests/fuzz/fuzz-channel.c tests/fuzz/driver.c
tests_fuzz_check_channel_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/channel.fuzz
EXTRA_DIST += tests/fuzz/corpus/channel
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-channel
tests_fuzz_fuzz_channel_SOURCES = tests/fuzz/fuzz-channel.c
tests_fuzz_fuzz_channel_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_channel_LDADD = $(SBX_LIBS)
endif
# The host's channel session against a scripted hostile guest (hello, execs, power-off).
check_PROGRAMS += tests/fuzz/check-session
tests_fuzz_check_session_SOURCES = tests/fuzz/fuzz-session.c tests/fuzz/driver.c
tests_fuzz_check_session_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/session.fuzz
EXTRA_DIST += tests/fuzz/corpus/session tests/fuzz/session-corpus.py
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-session
tests_fuzz_fuzz_session_SOURCES = tests/fuzz/fuzz-session.c
tests_fuzz_fuzz_session_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_session_LDADD = $(SBX_LIBS)
endif
# Secrets and TLS interception (sbx/secret.c, sbx/tls-ca.c, sbx/mitm.c) over loopback TLS.
check_PROGRAMS += tests/unit/test-mitm
tests_unit_test_mitm_SOURCES = tests/unit/test-mitm.c
tests_unit_test_mitm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mitm_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-mitm
# Secrets from git config, commands and presets; the plain-HTTP head rewrite (sbx/secret*.c).
check_PROGRAMS += tests/unit/test-secret
tests_unit_test_secret_SOURCES = tests/unit/test-secret.c
tests_unit_test_secret_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_secret_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-secret
# The guest-facing request-head rewrite and sentinel scan of sbx/secret-http.c, fuzzed.
check_PROGRAMS += tests/fuzz/check-secret-head
tests_fuzz_check_secret_head_SOURCES = tests/fuzz/fuzz-secret-head.c tests/fuzz/driver.c
tests_fuzz_check_secret_head_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/secret-head.fuzz
EXTRA_DIST += tests/fuzz/corpus/secret-head
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-secret-head
tests_fuzz_fuzz_secret_head_SOURCES = tests/fuzz/fuzz-secret-head.c
tests_fuzz_fuzz_secret_head_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_secret_head_LDADD = $(SBX_LIBS)
endif
# The relay's request stream (sbx/req-stream.c) in arbitrary splits: a real value goes only to its host.
check_PROGRAMS += tests/fuzz/check-req-stream
tests_fuzz_check_req_stream_SOURCES = tests/fuzz/fuzz-req-stream.c tests/fuzz/driver.c
tests_fuzz_check_req_stream_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/req-stream.fuzz
EXTRA_DIST += tests/fuzz/corpus/req-stream
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-req-stream
tests_fuzz_fuzz_req_stream_SOURCES = tests/fuzz/fuzz-req-stream.c
tests_fuzz_fuzz_req_stream_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_req_stream_LDADD = $(SBX_LIBS)
endif
# The audit trail (sbx/audit.c, sbx/audit-read.c) and util/json.c.
check_PROGRAMS += tests/unit/test-audit
tests_unit_test_audit_SOURCES = tests/unit/test-audit.c tests/unit/git-fixture.h
tests_unit_test_audit_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_audit_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-audit
# Fuzzing the audit trail's reader and summary (sbx/audit-read.c).
check_PROGRAMS += tests/fuzz/check-audit
tests_fuzz_check_audit_SOURCES = tests/fuzz/fuzz-audit.c tests/fuzz/driver.c
tests_fuzz_check_audit_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_check_audit_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/audit.fuzz
EXTRA_DIST += tests/fuzz/corpus/audit
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-audit
tests_fuzz_fuzz_audit_SOURCES = tests/fuzz/fuzz-audit.c
tests_fuzz_fuzz_audit_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_audit_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_audit_LDADD = $(SBX_LIBS)
endif
# The text records' buffer and escaping (sbx/textrec.c); realloc wrapped to reach the oom flag.
check_PROGRAMS += tests/unit/test-textrec
tests_unit_test_textrec_SOURCES = tests/unit/test-textrec.c
tests_unit_test_textrec_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_textrec_LDFLAGS = -Wl,--wrap=realloc
tests_unit_test_textrec_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-textrec
# Warm bases (sbx/warm.c): the key, the record, the store and gc, on hand-made directories.
check_PROGRAMS += tests/unit/test-warm
tests_unit_test_warm_SOURCES = tests/unit/test-warm.c
tests_unit_test_warm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_warm_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-warm
# The archive a task stages /run/sbx with (sbx/tar.c), against GNU and busybox tar.
check_PROGRAMS += tests/unit/test-tar
tests_unit_test_tar_SOURCES = tests/unit/test-tar.c
tests_unit_test_tar_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_tar_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-tar
# Fuzzing the checkpoint record's reader (sbx/checkpoint.c).
check_PROGRAMS += tests/fuzz/check-ckpt-record
tests_fuzz_check_ckpt_record_SOURCES = tests/fuzz/fuzz-ckpt-record.c tests/fuzz/driver.c
tests_fuzz_check_ckpt_record_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS)
tests_fuzz_check_ckpt_record_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/ckpt-record.fuzz
EXTRA_DIST += tests/fuzz/corpus/ckpt-record
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-ckpt-record
tests_fuzz_fuzz_ckpt_record_SOURCES = tests/fuzz/fuzz-ckpt-record.c
tests_fuzz_fuzz_ckpt_record_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS)
tests_fuzz_fuzz_ckpt_record_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_ckpt_record_LDADD = $(SBX_LIBS)
endif
