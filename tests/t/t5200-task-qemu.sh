#!/bin/sh
test_description='git sbx task end to end; without /dev/kvm, through the QEMU fallback with its warning'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm
. "$SBX_SRC_DIR/tests/t/task-lib.sh"
if why=$("$SBX_BUILD_DIR/tests/kvm/kvm-probe" 2>&1); then
	have_kvm=yes
else
	have_kvm=
fi

test_expect_success 'an image with git builds' '
	sbx_test_image "$TRASH_DIRECTORY" default git &&
	task_repo repo
'

write_edit_agent edit.sh

test_expect_success 'a scripted agent edits, adds, deletes, renames, commits once and leaves more: two commits on sbx/1, shown in its worktree' '
	repo_fingerprint repo >before &&
	(cd repo && git sbx task --agent script:../edit.sh "fix the bug" >../out 2>../err) &&
	cat out err &&
	grep "^agent: prompt=fix the bug$" out &&
	grep "^agent: history 7 commits, author Host User$" out &&
	grep "^agent: on sbx/1, base $(git -C repo rev-parse HEAD)$" out &&
	grep "^to stderr$" err &&
	check_edit_result repo 1 &&
	git -C repo log -1 --format="%an <%ae>" sbx/1 >author &&
	echo "Host User <host@example.com>" >expect &&
	test_cmp expect author &&
	repo_fingerprint repo >after &&
	test_cmp before after
'

test_expect_success 'the summary, the record and the log' '
	grep "^task 1 done: the agent exited with status 0" out &&
	grep "2 commits on sbx/1" out &&
	grep "time: boot .*, transfer in .*, agent .*, transfer out .*, import " out &&
	(cd repo && git sbx show --json 1) >show.json &&
	grep "\"state\": \"done\"" show.json &&
	grep "\"exit_status\": 0" show.json &&
	(cd repo && git sbx logs 1) >log &&
	grep "^agent: prompt=fix the bug$" log &&
	grep "^to stderr$" log
'

test_expect_success 'without a working /dev/kvm the task ran under QEMU, with the warning' '
	if test -n "$have_kvm"; then
		say "this machine has KVM: the task ran on our VMM" &&
		grep "(kvm)" out
	else
		grep -F "warning: $why: running the VM under QEMU" err &&
		grep "(qemu-tcg)" out
	fi
'

test_expect_success 'under QEMU the summary says once that warm bases need our VMM; show says it too' '
	if test -n "$have_kvm"; then
		say "this machine has KVM: the task restored a warm base" &&
		grep "start: restored from warm base" out
	else
		test "$(grep -c "warm bases (memory snapshots) need our VMM" out)" = 1 &&
		grep "^  start: booted cold: warm bases (memory snapshots) need our VMM on KVM; start to agent " out &&
		(cd repo && git sbx show 1) >show &&
		grep "^start: *booted cold: warm bases" show &&
		grep "^time: *boot " show &&
		(cd repo && git sbx show --json 1) >show.json &&
		grep "\"warm\": null" show.json &&
		grep "\"start_to_agent\": [1-9]" show.json &&
		! ls repo/.git/sbx/warm
	fi
'

test_expect_success 'without a working /dev/kvm, --backend kvm fails before a task exists' '
	if test -n "$have_kvm"; then
		say "this machine has KVM: nothing to check"
	else
		git -C repo sbx list | cut -d" " -f1 >before &&
		test_expect_code 128 git -C repo sbx task --backend kvm --agent script:../edit.sh "x" 2>err &&
		grep -F "fatal: --backend kvm: $why" err &&
		git -C repo sbx list | cut -d" " -f1 >after &&
		test_cmp before after
	fi
'

write_agent nothing.sh <<'EOF'

echo "looked, changed nothing"
EOF
test_expect_success 'an agent that changes nothing: no commits, exit 0' '
	(cd repo && git sbx task --agent script:../nothing.sh "look only" >../out 2>../err) &&
	grep "no changes: sbx/2 is still at the base" out &&
	test "$(git -C repo rev-parse sbx/2)" = "$(git -C repo rev-parse main)"
'

write_agent fails.sh <<'EOF'
echo partial > partial.txt
exit 7
EOF
test_expect_success 'an agent that fails: its work still comes back, git sbx task exits 1' '
	(cd repo && test_expect_code 1 git sbx task --agent script:../fails.sh "try" >../out 2>../err) &&
	grep "task 3 done: the agent exited with status 7" out &&
	git -C repo show sbx/3:partial.txt
'

write_agent slow.sh <<'EOF'
echo before > before.txt
git add before.txt && git commit -q -m before
sleep 600
EOF
test_expect_success '--timeout stops the agent; the work so far comes back; the task says why' '
	(cd repo && test_expect_code 1 git sbx task --timeout 5s --agent script:../slow.sh "slow" >../out 2>../err) &&
	grep "the agent timed out" out &&
	git -C repo log --format=%s -1 sbx/4 >s && echo before >expect && test_cmp expect s &&
	(cd repo && git sbx show 4) | grep "^state: *failed"
'

test_expect_success 'sbx.historyDepth cuts the history the guest sees' '
	git -C repo config sbx.historyDepth 2 &&
	(cd repo && git sbx task --agent script:../edit.sh "shallow" >../out 2>../err) &&
	grep "^agent: history 2 commits" out &&
	git -C repo log --format=%s main..sbx/5 >subjects &&
	test_line_count = 2 subjects &&
	git -C repo config --unset sbx.historyDepth
'

test_expect_success '--agent-cmd, --base and a prompt from a file' '
	echo "prompt from a file" >prompt &&
	(cd repo && git sbx task --base HEAD~2 --agent-cmd "echo \"\$SBX_PROMPT\" > p.txt" -F ../prompt >../out 2>../err) &&
	test "$(git -C repo rev-parse sbx/6~1)" = "$(git -C repo rev-parse main~2)" &&
	git -C repo show sbx/6:p.txt >p && test_cmp prompt p
'

test_expect_success '--detach runs the task in the background; logs -f follows it to the end' '
	(cd repo && git sbx task --detach --agent script:../nothing.sh "detached" >../out 2>../err) &&
	grep "task 7 is running in the background" out &&
	(cd repo && timeout 300 git sbx logs -f 7) >log &&
	grep "looked, changed nothing" log &&
	(cd repo && git sbx show 7) | grep "^state: *done"
'

write_agent sleepy.sh <<'EOF'
echo work > work.txt
git add work.txt && git commit -q -m "work before the interrupt"
echo started
sleep 600
EOF

# start_task ID GIT...: run a task with sleepy.sh in the background, wait for its agent.
start_task() {
	id=$1
	shift
	(cd repo && exec "$@" task --agent script:../sleepy.sh "interrupt me" >../out.$id 2>../err.$id) &
	echo $! >pid.$id
	i=0
	while ! grep -q "^started$" out.$id 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then cat out.$id err.$id; return 1; fi
		sleep 0.2
	done
}

wait_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then return 1; fi
		sleep 0.2
	done
}

# no_vm_left ID: no process (QEMU) still has task ID's disk open, within 10 s.
no_vm_left() {
	i=0
	while pgrep -f "repo/.git/sbx/tasks/$1/" >/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then pgrep -af "repo/.git/sbx/tasks/$1/"; return 1; fi
		sleep 0.2
	done
}

test_expect_success 'Ctrl-C stops the agent, brings its work back and marks the task cancelled' '
	start_task 8 git sbx &&
	kill -INT "$(cat pid.8)" &&
	wait_gone "$(cat pid.8)" &&
	cat out.8 err.8 &&
	grep "stopping the agent" err.8 &&
	(cd repo && git sbx show 8) >show &&
	grep "^state: *cancelled" show &&
	git -C repo log -1 --format=%s sbx/8 >s &&
	echo "work before the interrupt" >expect && test_cmp expect s
'

test_expect_success 'git sbx task killed with SIGKILL: no VM left behind, gc marks the task failed' '
	start_task 9 git-sbx &&
	kill -KILL "$(cat pid.9)" &&
	wait_gone "$(cat pid.9)" &&
	no_vm_left 9 &&
	(cd repo && git sbx gc) &&
	(cd repo && git sbx show 9) >show &&
	grep "^state: *failed" show
'

test_expect_success 'clear errors: an unknown agent, an unknown image, no prompt; no task is left' '
	(cd repo && test_must_fail git sbx task --agent nosuch "x" 2>../err) &&
	grep "no agent .nosuch." err &&
	(cd repo && test_must_fail git sbx task --image nosuch --agent script:../nothing.sh "x" 2>../err) &&
	grep "no image" err &&
	(cd repo && test_expect_code 129 git sbx task 2>../err) &&
	grep "no prompt given" err &&
	(cd repo && git sbx list) >list &&
	test_line_count = 10 list
'

test_expect_success 'git sbx rm removes a task: worktree, branch, disk' '
	test_path_is_file repo/.git/sbx/tasks/1/disk.qcow2 &&
	(cd repo && git sbx rm 1) &&
	test_path_is_missing repo/.git/sbx/tasks/1 &&
	test_path_is_missing repo/.git/sbx/worktrees/1 &&
	test_must_fail git -C repo rev-parse --verify -q sbx/1
'

# An image built by an older git-sbx holds an older sbx-init (another
# channel protocol): the task boots it with this one appended to its
# initramfs, made once beside the image.
test_expect_success 'an image whose sbx-init is not this one boots with this one' '
	dir=$(ls -d "$SBX_CACHE_DIR"/images/*/ | head -n 1) &&
	sed -i "s/^init=.*/init=0000000000000000000000000000000000000000000000000000000000000000/" \
		"$dir/manifest" &&
	(cd repo && git sbx task --agent-cmd "echo booted" "x" >../out 2>../err) &&
	grep "^booted" out &&
	ls "$dir"/initrd-*.img &&
	(cd repo && git sbx task --agent-cmd "echo again" "x" >../out 2>../err) &&
	grep "^again" out &&
	test "$(ls "$dir"/initrd-*.img | wc -l)" = 1
'

# sbx.setup runs after the clone on a cold boot, as the agent user in
# /workspace, with nothing of the task in its environment (a warm base's
# build runs it the same way; tests/kvm/warm.kvm).
write_agent setup-check.sh <<'EOF'
#!/bin/sh
echo "setup saw: $(cat .setup-done)"
EOF
test_expect_success 'sbx.setup runs in /workspace before the agent; its output goes to the log' '
	test_when_finished "git -C repo config --unset sbx.setup" &&
	git -C repo config sbx.setup "echo \"\$(id -u) \${SBX_TASK_ID:-none}\" >.setup-done; echo setup-out" &&
	(cd repo && git sbx task --agent script:../setup-check.sh "x" >../out 2>../err) &&
	cat out err &&
	grep "^setup saw: 1000 none$" out &&
	grep "running sbx.setup" err &&
	id=$(sed -n "s/^task \([0-9]*\) done.*/\1/p" out) &&
	(cd repo && git sbx logs $id) >log &&
	grep "^setup-out$" log
'

test_expect_success 'a failing sbx.setup fails the task before the agent, saying why' '
	test_when_finished "git -C repo config --unset sbx.setup" &&
	git -C repo config sbx.setup "echo broken >&2; exit 3" &&
	test_expect_code 128 git -C repo sbx task --agent-cmd "echo agent-ran" "x" >out 2>err &&
	cat out err &&
	grep "sbx.setup failed (exit 3: broken)" err &&
	! grep agent-ran out
'

test_done
