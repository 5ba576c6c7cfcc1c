#!/bin/sh
test_description='tests/nested/run: status, output, timeout and signals, no QEMU left behind'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

run=$SBX_SRC_DIR/tests/nested/run
. "$SBX_SRC_DIR/tests/nested/kernel-dir.sh"
if ! sbx_nested_kernel_dir >/dev/null 2>&1 || ! command -v qemu-system-x86_64 >/dev/null; then
	if [ "${SBX_TEST_KVM:-auto}" = require ]; then
		echo "Bail out! the nested harness needs tools/setup (kernel package, QEMU)"
		exit 1
	fi
	test_skip_all "no Debian kernel package or QEMU for the nested harness (run tools/setup)"
fi
mkdir -p "$TRASH_DIRECTORY/tmp"
TMPDIR=$TRASH_DIRECTORY/tmp
export TMPDIR

no_qemu_left() {
	! pgrep -f "qemu-system-x86_64.*$TRASH_DIRECTORY/tmp" >/dev/null
}

test_expect_success 'the command runs in the same directory with /dev/kvm; output and status come back' '
	mkdir -p here && cd here &&
	echo marker >file &&
	FOO="a b" test_expect_code 7 "$run" -- sh -c "cat file; echo \"\$FOO\"; test -c /dev/kvm && echo kvm; echo to-stderr >&2; exit 7" >out 2>err &&
	printf "marker\na b\nkvm\nto-stderr\n" >expect &&
	test_cmp expect out &&
	grep "^# nested: ran in a TCG guest" err &&
	no_qemu_left
'

test_expect_success 'files written in the guest appear on the host' '
	"$run" -- sh -c "echo from-guest >written" &&
	test "$(cat written)" = from-guest
'

test_expect_success 'a command that outlives --timeout is killed with status 124' '
	start=$(date +%s) &&
	test_expect_code 124 "$run" --timeout 3 -- sleep 600 2>err &&
	test $(( $(date +%s) - start )) -lt 30 &&
	grep "timed out after 3s" err &&
	no_qemu_left &&
	test -z "$(ls "$TRASH_DIRECTORY/tmp")"
'

test_expect_success 'a guest kernel whose heartbeat stops (a frozen kernel) ends the run at once with 123' '
	start=$(date +%s) &&
	SBX_NESTED_STALL=12 test_expect_code 123 "$run" -- \
		sh -c "kill -STOP \$(cat \"\$SBX_NESTED_HEARTBEAT.pid\"); echo stopped; sleep 600" >out 2>err &&
	test $(( $(date +%s) - start )) -lt 120 &&
	grep "^stopped$" out &&
	grep "froze (its heartbeat stopped" err &&
	no_qemu_left &&
	test -z "$(ls "$TRASH_DIRECTORY/tmp")"
'

test_expect_success 'SIGTERM to the harness kills QEMU and cleans up' '
	"$run" -- sleep 600 >/dev/null 2>&1 &
	pid=$! &&
	sleep 2 &&
	kill -TERM $pid &&
	wait $pid; status=$? &&
	test $status -eq 143 &&
	no_qemu_left &&
	test -z "$(ls "$TRASH_DIRECTORY/tmp")"
'

test_expect_success 'a missing command reports 127 from inside the guest' '
	test_expect_code 127 "$run" -- /nonexistent/command 2>err
'

test_done
