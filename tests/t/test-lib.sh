# tests/t/test-lib.sh: a small test library for the end-to-end scripts, in
# the manner of git's t/test-lib.sh.  A script sets test_description, sources
# this file, calls test_expect_success for each case and ends with test_done.
# Output is TAP.  Each script runs in its own temporary directory with its own
# HOME and git identity; the directory is removed when every case passes and
# kept (and named) when one fails.
#
# Helpers: test_expect_success DESC BODY, test_expect_failure DESC BODY
# (a known breakage), test_must_fail CMD..., test_when_finished CMD,
# test_skip_all REASON, test_cmp EXPECTED ACTUAL, test_line_count OP N FILE,
# test_path_is_file F, test_path_is_missing F, test_have_prereq NAME,
# test_need_vm.

: "${SBX_BUILD_DIR:?run through make check (SBX_BUILD_DIR is not set)}"
: "${SBX_SRC_DIR:?run through make check (SBX_SRC_DIR is not set)}"

test_name=$(basename "$0" .sh)
test_count=0
test_failed=0
test_cleanup=

TRASH_DIRECTORY=$(mktemp -d "${TMPDIR:-/tmp}/sbx-$test_name.XXXXXX") || {
	echo "Bail out! cannot make a temporary directory"; exit 1; }
export TRASH_DIRECTORY
HOME=$TRASH_DIRECTORY
export HOME
unset XDG_CONFIG_HOME GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY \
	GIT_CEILING_DIRECTORIES SBX_DEBUG
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME='A U Thor'
GIT_AUTHOR_EMAIL='author@example.com'
GIT_COMMITTER_NAME='C O Mitter'
GIT_COMMITTER_EMAIL='committer@example.com'
GIT_AUTHOR_DATE='1700000000 +0000'
GIT_COMMITTER_DATE='1700000000 +0000'
export GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME \
	GIT_COMMITTER_EMAIL GIT_AUTHOR_DATE GIT_COMMITTER_DATE
git config --global init.defaultBranch main
git config --global advice.detachedHead false
# The shared cache (kernels, images) stays where tools/setup put it.
SBX_CACHE_DIR=${SBX_CACHE_DIR:-${XDG_CACHE_HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)/.cache}/git-sbx}
export SBX_CACHE_DIR
PATH=$SBX_BUILD_DIR:$PATH
export PATH
cd "$TRASH_DIRECTORY" || exit 1

say() { echo "# $*"; }

# test_need_vm: for scripts that boot VMs.  Without tools/setup's kernel
# package or QEMU the script is skipped, or fails with SBX_TEST_KVM=require
# (CI); then tests/kvm/image-lib.sh is sourced and the script gets its own
# image cache and TMPDIR in its trash directory.
test_need_vm() {
	. "$SBX_SRC_DIR/tests/nested/kernel-dir.sh"
	if ! sbx_nested_kernel_dir cloud-amd64 >/dev/null 2>&1 || ! command -v qemu-system-x86_64 >/dev/null; then
		if [ "${SBX_TEST_KVM:-auto}" = require ]; then
			echo "Bail out! $test_name needs tools/setup (cloud kernel package, QEMU)"
			exit 1
		fi
		test_skip_all "no Debian cloud kernel package or QEMU (run tools/setup)"
	fi
	. "$SBX_SRC_DIR/tests/kvm/image-lib.sh"
	SBX_CACHE_DIR=$TRASH_DIRECTORY/cache
	TMPDIR=$TRASH_DIRECTORY
	export SBX_CACHE_DIR TMPDIR
}

test_when_finished() {
	test_cleanup="$*; $test_cleanup"
}

run_case() {
	test_cleanup=
	(
		set -e
		eval "$1"
	) > "$TRASH_DIRECTORY/.case-out" 2>&1
	status=$?
	if [ -n "$test_cleanup" ]; then
		eval "$test_cleanup" >> "$TRASH_DIRECTORY/.case-out" 2>&1
	fi
	return $status
}

test_expect_success() {
	test_count=$((test_count + 1))
	if run_case "$2"; then
		echo "ok $test_count - $1"
		# SBX_TEST_VERBOSE=1 shows what passing cases printed too.
		if [ -n "${SBX_TEST_VERBOSE-}" ]; then
			sed -e 's/^/#    /' "$TRASH_DIRECTORY/.case-out"
		fi
	else
		echo "not ok $test_count - $1"
		sed -e 's/^/#    /' "$TRASH_DIRECTORY/.case-out"
		test_failed=$((test_failed + 1))
	fi
	cd "$TRASH_DIRECTORY" || exit 1
}

test_expect_failure() {
	test_count=$((test_count + 1))
	if run_case "$2"; then
		echo "ok $test_count - $1 # TODO known breakage vanished"
	else
		echo "not ok $test_count - $1 # TODO known breakage"
	fi
	cd "$TRASH_DIRECTORY" || exit 1
}

test_skip_all() {
	echo "1..0 # SKIP $*"
	cd / && rm -rf "$TRASH_DIRECTORY"
	exit 0
}

# Run a command that must fail (exit 1..125, not a signal or "not found").
test_must_fail() {
	"$@"
	status=$?
	if [ $status -eq 0 ]; then
		echo "test_must_fail: '$*' succeeded" >&2
		return 1
	elif [ $status -gt 125 ] && [ $status -ne 128 ] && [ $status -ne 129 ]; then
		echo "test_must_fail: '$*' died with status $status" >&2
		return 1
	fi
	return 0
}

# test_expect_code N CMD...: the command exits with exactly N.
test_expect_code() {
	want=$1
	shift
	"$@"
	status=$?
	if [ $status -ne "$want" ]; then
		echo "test_expect_code: '$*' exited $status, wanted $want" >&2
		return 1
	fi
	return 0
}

test_cmp() {
	diff -u "$1" "$2"
}

test_line_count() {
	if [ "$(wc -l < "$3")" "-$(echo "$1" | sed 's/^=$/eq/; s/^-//')" "$2" ]; then
		return 0
	fi
	echo "test_line_count: $3 has $(wc -l < "$3") lines, want $1 $2"
	return 1
}

test_path_is_file() {
	[ -f "$1" ] || { echo "missing file: $1" >&2; return 1; }
}

test_path_is_missing() {
	[ ! -e "$1" ] || { echo "should not exist: $1" >&2; return 1; }
}

test_have_prereq() {
	case "$1" in
	QEMU_IMG) command -v qemu-img >/dev/null 2>&1 ;;
	KVM) "$SBX_BUILD_DIR/tests/kvm/kvm-probe" 2>/dev/null ;;
	*) return 1 ;;
	esac
}

test_done() {
	echo "1..$test_count"
	if [ $test_failed -eq 0 ]; then
		cd / && rm -rf "$TRASH_DIRECTORY"
		exit 0
	fi
	echo "# $test_failed of $test_count failed; kept $TRASH_DIRECTORY"
	exit 1
}
