#!/bin/sh
test_description='git sbx run without KVM: the same machine under QEMU (TCG), with a warning'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm

test_expect_success 'a busybox image builds' '
	sbx_test_image "$TRASH_DIRECTORY" t &&
	git sbx image ls >out &&
	grep "^[0-9a-f]\{12\}  t " out
'

test_expect_success 'git sbx run --backend qemu runs the command as the agent and returns its status' '
	test_expect_code 4 git sbx run --backend qemu --image t -- sh -c "echo hello; id -u; exit 4" >out 2>err &&
	printf "hello\n1000\n" >expect &&
	test_cmp expect out &&
	grep "^warning: running the VM under QEMU.s emulation (slow) (--backend qemu)$" err
'

test_expect_success 'without a working /dev/kvm the default backend is QEMU, with the check'"'"'s reason' '
	if "$SBX_BUILD_DIR/tests/kvm/kvm-probe" 2>/dev/null; then
		say "this machine has KVM: nothing to check"
	else
		why=$("$SBX_BUILD_DIR/tests/kvm/kvm-probe" 2>&1)
		git sbx run --image t -- true 2>err &&
		grep -F "warning: $why: running the VM under QEMU" err
	fi
'

test_expect_success 'without a working /dev/kvm, --backend kvm fails at once with the reason' '
	if "$SBX_BUILD_DIR/tests/kvm/kvm-probe" 2>/dev/null; then
		say "this machine has KVM: nothing to check"
	else
		why=$("$SBX_BUILD_DIR/tests/kvm/kvm-probe" 2>&1)
		t0=$(date +%s) &&
		test_expect_code 128 git sbx run --backend kvm --image t -- true 2>err &&
		t1=$(date +%s) &&
		grep -F "fatal: --backend kvm: $why" err &&
		test $((t1 - t0)) -le 2
	fi
'

test_expect_success 'a disk path with a comma reaches QEMU whole (QEMU splits options at commas)' '
	mkdir "with,comma" &&
	git sbx run --backend qemu --image t --keep-disk "$TRASH_DIRECTORY/with,comma/task.qcow2" -- \
		sh -c "echo comma >/workspace/file" &&
	git sbx disk check "$TRASH_DIRECTORY/with,comma/task.qcow2" &&
	! ls "$TRASH_DIRECTORY/with" 2>/dev/null
'

test_expect_success 'a reader that leaves early does not leave the temporary disk behind' '
	mkdir tmp-pipe &&
	TMPDIR=$TRASH_DIRECTORY/tmp-pipe git sbx run --backend qemu --image t -- \
		sh -c "while :; do echo line; done" 2>err | head -n 1 >out &&
	echo line >expect && test_cmp expect out &&
	test -z "$(ls tmp-pipe)"
'

test_expect_success 'the task disk is the guest workspace; --keep-disk keeps it as qcow2' '
	git sbx run --backend qemu --image t --keep-disk "$TRASH_DIRECTORY/task.qcow2" -- \
		sh -c "echo kept >/workspace/file" &&
	git sbx disk info "$TRASH_DIRECTORY/task.qcow2" >info &&
	grep -i "backing" info &&
	git sbx disk check "$TRASH_DIRECTORY/task.qcow2"
'

test_expect_success 'an unknown image is a clear error' '
	test_must_fail git sbx run --image nope -- true 2>err &&
	grep "no image .nope." err
'

test_done
