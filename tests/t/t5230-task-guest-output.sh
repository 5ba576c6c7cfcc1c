#!/bin/sh
test_description='what the guest writes for the host to show or keep: a serial console flood
stops at sbx.maxConsoleLogSize; the agent.s output, commit subjects and a rejection message
reach the terminal escaped'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm
. "$SBX_SRC_DIR/tests/t/task-lib.sh"

# no_raw_controls FILE: no C0 control but tab and newline, no DEL, no C1.
no_raw_controls() {
	test "$(LC_ALL=C tr -d '\t\n -~\200-\377' <"$1" | wc -c)" = 0 &&
	! LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$1"
}

test_expect_success 'an image with git and sudo; a repository' '
	sbx_test_image "$TRASH_DIRECTORY" default git &&
	task_repo repo
'

# The agent, root through sudo, writes to the serial port until it has
# written 2 GiB or 12 s have passed (QEMU's emulated UART took ~120 KB/s
# here: 3 MB in 25 s, 0.6 to 1.2 MB in 12 s by the load), and says how
# much it wrote.  It also writes an OSC 52 clipboard write, a screen clear,
# CR and BEL to stdout and stderr, and commits with them in the subject.
write_agent flood.sh <<'EOF'
#!/bin/sh
sudo sh -c '
  yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz |
    head -c 65536 > /tmp/chunk
  total=0 end=$(( $(date +%s) + 12 ))
  while [ $total -lt 2147483648 ] && [ $(date +%s) -lt $end ]; do
    cat /tmp/chunk > /dev/ttyS0 || break
    total=$((total + 65536))
  done
  echo "flooded $total bytes"
'
printf 'out \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007\n'
printf 'err \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007\n' >&2
echo flooded > flood.txt
git add flood.txt
git commit -q -m "$(printf 'agent \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007')"
EOF

cap=65536
test_expect_success 'a console flood of the agent (root) stops at sbx.maxConsoleLogSize' '
	git -C repo config sbx.maxConsoleLogSize $cap &&
	(cd repo && git sbx task --backend qemu --agent script:../flood.sh "flood" >../out 2>../err) &&
	cat out err &&
	written=$(sed -n "s/^flooded \([0-9]*\) bytes$/\1/p" out) &&
	size=$(wc -c <repo/.git/sbx/tasks/1/console.log) &&
	echo "the guest wrote $written bytes to the serial port; console.log has $size bytes (cap $cap)" >measured &&
	test "$written" -gt $((cap * 4)) &&
	test "$size" -le $cap &&
	test "$size" -gt $((cap - 200)) &&
	tail -c 200 repo/.git/sbx/tasks/1/console.log | grep "console output over sbx.maxConsoleLogSize ($cap bytes); the rest was discarded" &&
	grep "^task 1 done" out
'
test -f measured && sed "s/^/# /" measured

test_expect_success 'the agent.s live output and the summary.s subjects are escaped' '
	no_raw_controls out && no_raw_controls err &&
	grep -F "out ^[]52;c;cHduZWQ=^G ^[[2J^MFAKE^G" out &&
	grep -F "err ^[]52;c;cHduZWQ=^G ^[[2J^MFAKE^G" err &&
	grep -F " agent ^[]52;c;cHduZWQ=^G ^[[2J^MFAKE^G" out &&
	(cd repo && git sbx logs 1) >logs && no_raw_controls logs &&
	grep -F "out ^[]52;c;cHduZWQ=^G ^[[2J^MFAKE^G" logs &&
	(cd repo && git sbx logs --raw 1) >raw &&
	grep -F "$(printf "out \\033]52;c;cHduZWQ=\\007 \\033[2J\\rFAKE\\007")" raw
'

# A result holding a directory named with escapes that git would take for a
# repository: the import refuses it, and its message quotes that name.
write_agent reject.sh <<'EOF'
#!/bin/sh
# A directory git would take for a repository, named with control bytes: the
# import refuses it and its message quotes the name.
d=$(printf 'd\033]52;c;cHduZWQ=\007\r\033[2J')
mkdir -p "$d/objects/info" "$d/refs/heads"
echo "ref: refs/heads/main" > "$d/HEAD"
echo k > "$d/objects/info/k"
echo k > "$d/refs/heads/k"
printf 'raw \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007\n'
EOF

# --raw gives the agent's own stream unchanged to a file; what git-sbx
# says (the error, the summary) stays escaped.
test_expect_success 'with --raw the agent.s output is raw to a file; a rejection message quoting a guest name stays escaped' '
	(cd repo && test_expect_code 128 git sbx task --raw --backend qemu --agent script:../reject.sh "evil" >../out 2>../err) &&
	cat out err &&
	grep -F "$(printf "raw \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007")" out &&
	grep -v "^raw " out >out-ours &&
	no_raw_controls out-ours && no_raw_controls err &&
	grep -F "error: task 2 failed: rejected the result bundle: " err &&
	grep "looks like a git repository" err &&
	grep "looks like a git repository" out-ours &&
	(cd repo && git sbx show 2) >show && no_raw_controls show &&
	grep "looks like a git repository" show
'

# git sbx run: the command's output is data, unchanged to a file or pipe,
# escaped to a terminal (script(1) gives it one; the pty adds CR before LF).
cat >run-hostile.sh <<'EOF'
cd repo && git sbx run --backend qemu -- sh -c '
  printf "run \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007\n"
  printf "run \033]52;c;cHduZWQ=\007 \033[2J\rFAKE\007\n" >&2' 2>../run-err
EOF
test_expect_success 'git sbx run escapes output to a terminal, not to a pipe' '
	script -qec "sh run-hostile.sh" /dev/null >run-tty &&
	sed "s/$(printf "\\r")\$//" run-tty >run-out &&
	cat run-out run-err &&
	no_raw_controls run-out &&
	grep -F "run ^[]52;c;cHduZWQ=^G ^[[2J^MFAKE^G" run-out &&
	grep -F "$(printf "run \\033]52;c;cHduZWQ=\\007 \\033[2J\\rFAKE\\007")" run-err
'

test_done
