#!/bin/sh
test_description='guest text reaches the terminal escaped: show, list, logs, JSON and error
messages print no raw control byte from prompts, commit subjects, logs or rejection messages'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task

# What a hostile agent writes: an OSC 52 clipboard write (ended by BEL), a
# screen clear, a CR that overwrites the line, a bare BEL, a C1 CSI (UTF-8).
osc52=$(printf '\033]52;c;cHduZWQ=\007')
clear=$(printf '\033[2J')
cr=$(printf '\r')
bel=$(printf '\007')
c1=$(printf '\302\233')

# no_raw_controls FILE: no C0 control but tab and newline, no DEL, no C1.
no_raw_controls() {
	test "$(LC_ALL=C tr -d '\t\n -~\200-\377' <"$1" | wc -c)" = 0 &&
	! LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$1"
}

# escaped FILE: the hostile sequences are there, spelled out.
escaped() {
	grep -F '^[]52;c;cHduZWQ=^G' "$1" &&
	grep -F '^[[2J' "$1"
}

test_expect_success 'setup: a task whose prompt, commit subject and log carry control bytes' '
	git init -q repo && cd repo &&
	echo one >a.txt && git add -A && git commit -qm first &&
	test "$("$helper" create "fix${clear} it${cr}${bel} now${osc52}")" = 1 &&
	git clone -q . ../guest && cd ../guest &&
	echo changed >>a.txt &&
	git commit -qam "agent ${osc52} done ${clear}${cr}FAKE${bel} ${c1}" &&
	git bundle create -q ../result.bundle origin/main..HEAD && cd ../repo &&
	"$helper" import 1 ../result.bundle &&
	printf "out %s%s%s\nline 2\n" "$osc52" "$cr" "$clear" >.git/sbx/tasks/1/log
'

test_expect_success 'git sbx show escapes the prompt and the commit subjects' '
	cd repo && git sbx show 1 >out &&
	no_raw_controls out && escaped out &&
	grep -F "    fix^[[2J it^M^G now^[]52;c;cHduZWQ=^G" out &&
	grep -F " agent ^[]52;c;cHduZWQ=^G done ^[[2J^MFAKE^G \\u009b" out
'

test_expect_success 'git sbx show --json escapes controls, C1 included' '
	cd repo && git sbx show --json 1 >out &&
	no_raw_controls out &&
	grep -F "\"prompt\": \"fix\\u001b[2J it\\r\\u0007 now\\u001b]52;c;cHduZWQ=\\u0007\"" out &&
	grep -F "FAKE\\u0007 \\u009b\"]" out
'

test_expect_success 'git sbx list escapes the prompt' '
	cd repo && git sbx list >out &&
	no_raw_controls out &&
	grep -F "fix^[[2J it^M^G now^[]52;c;cHduZWQ=^G" out
'

test_expect_success 'git sbx logs escapes the log; --raw to a file gives its bytes' '
	cd repo && git sbx logs 1 >out &&
	no_raw_controls out &&
	printf "out ^[]52;c;cHduZWQ=^G^M^[[2J\nline 2\n" >expect &&
	test_cmp expect out &&
	git sbx logs --raw 1 >raw &&
	cmp raw .git/sbx/tasks/1/log
'

test_expect_success 'git sbx logs -f escapes what arrives while the task runs' '
	cd repo && rm -f .git/sbx/tasks/1/log &&
	{ "$helper" hold 1 1 & } &&
	pid=$! &&
	sleep 0.3 &&
	printf "live %s%s\n" "$osc52" "$clear" >>.git/sbx/tasks/1/log &&
	git sbx logs -f 1 >out &&
	wait $pid &&
	no_raw_controls out &&
	grep -F "live ^[]52;c;cHduZWQ=^G^[[2J" out &&
	test "$(tail -1 out)" = "agent done"
'

# A result whose tree has an entry named with a slash and escapes: the
# import refuses it and its message quotes the name, as the session then
# records it in the task's record.
test_expect_success 'a rejection message that quotes a guest name is shown escaped' '
	cd repo && test "$("$helper" create second)" = 2 &&
	cd ../guest && git checkout -q -b evil origin/main &&
	d="d${osc52}${cr}${clear}" &&
	mkdir -p "$d/objects/info" "$d/refs/heads" && echo "ref: refs/heads/main" >"$d/HEAD" &&
	echo k >"$d/objects/info/k" && echo k >"$d/refs/heads/k" &&
	git add -A && git commit -qm evil &&
	git bundle create -q ../evil.bundle origin/main..HEAD && cd ../repo &&
	test_must_fail "$helper" import 2 ../evil.bundle 2>err && cat err &&
	grep "looks like a git repository" err &&
	no_raw_controls err &&
	msg=$(sed -n "s/^error: import failed (\\(.*\\))\$/\\1/p" err) &&
	test -n "$msg" &&
	"$helper" finish 2 failed 1 "rejected the result: $msg" &&
	git sbx show 2 >out &&
	no_raw_controls out &&
	grep -F "error:    rejected the result: rejected the result bundle: " out &&
	grep "looks like a git repository" out
'

test_expect_success 'fatal and error messages escape what they quote' '
	cd repo &&
	test_expect_code 128 git sbx show "1${osc52}${clear}" 2>err &&
	no_raw_controls err &&
	grep -F "fatal: '\''1^[]52;c;cHduZWQ=^G^[[2J'\'' is not a task id" err &&
	test_expect_code 128 git sbx rm "2${bel}${cr}" 2>err &&
	no_raw_controls err &&
	grep -F "2^G^M" err
'

test_done
