#!/bin/sh
test_description='git sbx disk: create, info, check (exit codes, --json, repair), seal, squash'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

# A case that needs qemu-img (the oracle): skipped, saying so, without it.
qemu_test() {
	if test_have_prereq QEMU_IMG; then
		test_expect_success "$1" "$2"
	else
		test_count=$((test_count + 1))
		echo "ok $test_count # SKIP $1 (qemu-img not found)"
	fi
}

# Offsets inside an image, read with od (big-endian u64 at $2).
be64() {
	printf '%d' "0x$(od -An -tx1 -j "$2" -N8 "$1" | tr -d ' \n')"
}

test_expect_success 'disk -h and each subcommand -h work outside a repository' '
	git sbx disk -h >out && grep "^   create" out && grep "^   squash" out &&
	for c in create info check seal squash; do
		git sbx disk $c -h >out && grep "^usage: git sbx disk $c" out || return 1
	done
'

test_expect_success 'disk with no subcommand or a wrong one is a usage error' '
	test_expect_code 129 git sbx disk 2>err &&
	test_expect_code 129 git sbx disk frob 2>err &&
	grep "not a git sbx disk command" err &&
	test_expect_code 129 git sbx disk create 2>err &&
	grep "^usage: git sbx disk create" err
'

test_expect_success 'create and info, plain and with subclusters' '
	git sbx disk create base.qcow2 16M &&
	git sbx disk info base.qcow2 >out &&
	grep "^virtual size: 16777216 bytes" out &&
	git sbx disk create --subclusters --cluster-size 128k -b base.qcow2 top.qcow2 &&
	git sbx disk info --json top.qcow2 >j &&
	grep "\"virtual-size\": 16777216" j &&
	grep "\"cluster-size\": 131072" j &&
	grep "\"extended-l2\": true" j &&
	grep "\"backing-filename\": \"base.qcow2\"" j &&
	grep "\"backing-filename-format\": \"qcow2\"" j &&
	test_must_fail git sbx disk create top.qcow2 1M 2>err &&
	grep "^fatal: cannot create .top.qcow2." err
'

test_expect_success 'create refuses bad sizes and formats' '
	test_must_fail git sbx disk create x.qcow2 1000 2>err && grep "multiple of 512" err &&
	test_must_fail git sbx disk create --cluster-size 3000 x.qcow2 1M 2>err &&
	grep "power of two" err &&
	test_must_fail git sbx disk create -b base.qcow2 -F vmdk x.qcow2 2>err &&
	grep "explicit format" err &&
	test_path_is_missing x.qcow2
'

qemu_test 'qemu-img agrees with info' '
	qemu-img info --output=json top.qcow2 >q &&
	grep "\"virtual-size\": 16777216" q &&
	grep "\"extended-l2\": true" q &&
	grep "\"backing-filename-format\": \"qcow2\"" q &&
	qemu-img check top.qcow2
'

test_expect_success 'check a clean image: exit 0, JSON' '
	git sbx disk check base.qcow2 >out &&
	grep "No errors" out &&
	git sbx disk check --json base.qcow2 >j &&
	grep "\"corruptions\": 0" j && grep "\"leaks\": 0" j
'

test_expect_success 'a leaked cluster: exit 3, repaired by -r' '
	cp base.qcow2 leak.qcow2 &&
	rt=$(be64 leak.qcow2 48) && blk=$(be64 leak.qcow2 $rt) &&
	printf "\000\001" | dd of=leak.qcow2 bs=1 seek=$((blk + 2 * 40)) conv=notrunc 2>/dev/null &&
	test_expect_code 3 git sbx disk check leak.qcow2 >out &&
	grep "1 leaked clusters" out &&
	test_expect_code 3 git sbx disk check --json leak.qcow2 >j && grep "\"leaks\": 1" j &&
	git sbx disk check -r leak.qcow2 >out &&
	grep "Repaired 1" out &&
	git sbx disk check leak.qcow2
'

test_expect_success 'corruption: exit 2, never repaired' '
	cp base.qcow2 bad.qcow2 &&
	l1=$(be64 bad.qcow2 40) &&
	printf "\200\000\000\000\000\000\022\000" | dd of=bad.qcow2 bs=1 seek=$l1 conv=notrunc 2>/dev/null &&
	test_expect_code 2 git sbx disk check bad.qcow2 >out &&
	grep "errors were found" out && grep "L2 table offset" out &&
	cp bad.qcow2 bad.before &&
	test_expect_code 2 git sbx disk check -r bad.qcow2 >out &&
	cmp bad.qcow2 bad.before &&
	test_expect_code 2 git sbx disk check --json bad.qcow2 >j &&
	grep "\"first-error\": \".*L2 table offset" j
'

test_expect_success 'a file that is not qcow2 is reported as corrupt' '
	echo hello >notq.qcow2 &&
	test_expect_code 2 git sbx disk check notq.qcow2 >out &&
	test_must_fail git sbx disk info notq.qcow2 2>err &&
	grep "fatal: cannot read .notq.qcow2." err &&
	test_expect_code 1 git sbx disk check missing.qcow2 2>err &&
	grep "cannot check .missing.qcow2." err
'

qemu_test 'internal snapshots: check says unsupported (63)' '
	qemu-img create -q -f qcow2 snap.qcow2 1M && qemu-img snapshot -c s1 snap.qcow2 &&
	test_expect_code 63 git sbx disk check snap.qcow2 2>err &&
	grep "internal snapshots" err &&
	git sbx disk info snap.qcow2 >out && grep "internal snapshots: 1" out
'

qemu_test 'seal and squash keep the content; qemu-img agrees' '
	qemu-io -f qcow2 -c "write -P 0x61 0 1M" base.qcow2 >/dev/null &&
	qemu-io -f qcow2 -c "write -P 0x62 64k 4k" -c "write -z 512k 64k" top.qcow2 >/dev/null &&
	git sbx disk squash top.qcow2 flat.qcow2 &&
	qemu-img compare top.qcow2 flat.qcow2 &&
	git sbx disk info --json flat.qcow2 >j && ! grep backing-filename j &&
	git sbx disk create -b top.qcow2 over.qcow2 &&
	qemu-io -f qcow2 -c "write -P 0x63 1M 8k" over.qcow2 >/dev/null &&
	git sbx disk squash --base base.qcow2 over.qcow2 mid.qcow2 &&
	git sbx disk info --json mid.qcow2 >j && grep "\"backing-filename\": \"base.qcow2\"" j &&
	qemu-img compare over.qcow2 mid.qcow2 &&
	cp base.qcow2 base.orig &&
	git sbx disk seal base.qcow2 &&
	{ test ! -w base.qcow2 || test "$(id -u)" = 0; } &&
	git sbx disk info --json base.qcow2 >j && grep "\"compression-type\": \"zstd\"" j &&
	git sbx disk check --json base.qcow2 >j && grep "\"compressed-clusters\": 16" j &&
	qemu-img check base.qcow2 &&
	qemu-img compare base.qcow2 base.orig &&
	qemu-img compare top.qcow2 flat.qcow2 &&
	git sbx disk seal -o sealed-top.qcow2 top.qcow2 &&
	qemu-img compare top.qcow2 sealed-top.qcow2 &&
	test_must_fail git sbx disk squash --base nothere.qcow2 over.qcow2 x.qcow2 2>err &&
	grep "cannot squash" err
'

test_done
