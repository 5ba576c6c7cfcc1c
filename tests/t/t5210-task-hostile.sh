#!/bin/sh
test_description='git sbx task against hostile agents: each case is a script agent; the host
takes back only verified objects and one ref, and nothing outside the task changes'
# The disk-filling agent is in tests/kvm/task.kvm: only our VMM caps a task
# disk (sbx.diskLimit); under the QEMU fallback it could grow to 16 GiB.
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm
. "$SBX_SRC_DIR/tests/t/task-lib.sh"

test_expect_success 'an image with git and sudo; a repository with history' '
	sbx_test_image "$TRASH_DIRECTORY" default git &&
	task_repo repo
'

# run_hostile ID AGENT [task options...]: run the task, keep its exit code
# in ../code, its output in ../out and ../err, fingerprints before and after.
run_hostile() {
	id=$1 agent=$2
	shift 2
	repo_fingerprint repo >before.$id &&
	objects_fingerprint repo >objects-before.$id &&
	(cd repo && git sbx task "$@" --agent "script:../$agent" "hostile $id" >../out 2>../err; echo $? >../code)
	cat out err
	repo_fingerprint repo >after.$id &&
	test_cmp before.$id after.$id
}

# The task was refused: failed, branch still at the base, no object added.
rejected() {
	id=$1
	test "$(cat code)" = 128 &&
	(cd repo && git sbx show "$id") >show &&
	grep "^state: *failed" show &&
	test "$(git -C repo rev-parse "sbx/$id")" = "$(git -C repo rev-parse main)" &&
	objects_fingerprint repo >objects-after.$id &&
	test_cmp objects-before.$id objects-after.$id
}

write_agent hooks.sh <<'EOF'
#!/bin/sh
printf '#!/bin/sh\necho HOOK RAN >&2\nexit 1\n' > .git/hooks/pre-commit
cp .git/hooks/pre-commit .git/hooks/commit-msg
cp .git/hooks/pre-commit .git/hooks/post-checkout
chmod +x .git/hooks/*
git config core.hooksPath /tmp
git config core.fsmonitor 'echo FSMONITOR >&2; false'
git config alias.bundle '!echo ALIAS'
printf '[core]\n\tsbxtest = guest-value\n' >> .git/config
echo "left for git-sbx" > work.txt
EOF
test_expect_success 'hooks and config written in the guest repository stay there; the host.s are byte-identical' '
	run_hostile 1 hooks.sh &&
	test "$(cat code)" = 0 &&
	git -C repo log --format=%s main..sbx/1 >s && echo "sbx: uncommitted work" >expect && test_cmp expect s &&
	! grep "HOOK RAN" err out &&
	test "$(git -C repo config core.sbxtest)" = host-value &&
	test_must_fail git -C repo config core.hooksPath
'

write_agent rewrite.sh <<'EOF'
#!/bin/sh
git reset -q --hard HEAD~1
echo "a different past" > past.txt
git add past.txt && git commit -q -m "rewritten history"
EOF
test_expect_success 'history rewritten below the base is rejected' '
	run_hostile 2 rewrite.sh &&
	rejected 2 &&
	grep "descend" err
'

# A "sudo" agent that replaces git in /usr/local/bin (first in PATH) so that
# `git bundle create` returns what it likes.  $1 is the body for that case.
fake_git_agent() {
	cat <<EOF
#!/bin/sh
echo "real work" > work.txt
git add work.txt && git commit -q -m "real work"
sudo mkdir -p /usr/local/bin
sudo sh -c 'cat > /usr/local/bin/git' <<'GIT'
#!/bin/sh
real=/usr/bin/git
if [ "\$1" = bundle ] && [ "\$2" = create ]; then
$1
	exit 0
fi
exec \$real "\$@"
GIT
sudo chmod 755 /usr/local/bin/git
EOF
}

fake_git_agent '	printf "# v2 git bundle\n-%s base\n%s HEAD\n\n" "$SBX_BASE" 1111111111111111111111111111111111111111
	printf "%s\n" HEAD "^$SBX_BASE" | $real pack-objects --revs --stdout -q' >wrong-tip.sh
test_expect_success 'a bundle whose claimed tip is not the commit it carries is rejected' '
	run_hostile 3 wrong-tip.sh &&
	rejected 3 &&
	grep "rejected the result" err
'

fake_git_agent '	extra=$(echo smuggled | $real hash-object -w --stdin)
	printf "# v2 git bundle\n-%s base\n%s HEAD\n\n" "$SBX_BASE" "$($real rev-parse HEAD)"
	{ $real rev-list --objects "$SBX_BASE..HEAD"; echo "$extra"; } | $real pack-objects --stdout -q' >unreachable.sh
test_expect_success 'a bundle carrying an object unreachable from its tip is rejected' '
	run_hostile 4 unreachable.sh &&
	rejected 4 &&
	grep "not reachable from its tip" err
'

fake_git_agent '	$real bundle create -q /tmp/b.bundle "$SBX_BASE..HEAD" 2>/dev/null
	size=$(wc -c < /tmp/b.bundle)
	printf X | dd of=/tmp/b.bundle bs=1 seek=$((size - 30)) conv=notrunc 2>/dev/null
	cat /tmp/b.bundle' >corrupt.sh
test_expect_success 'a bundle whose pack bytes do not match their hashes is rejected' '
	run_hostile 5 corrupt.sh &&
	rejected 5
'

fake_git_agent '	blob=$(printf "#!/bin/sh\necho pwned\n" | $real hash-object -w --stdin)
	hooks=$(printf "100755 blob %s\tpost-checkout\n" "$blob" | $real mktree)
	dotgit=$(printf "040000 tree %s\thooks\n" "$hooks" | $real mktree)
	root=$({ $real ls-tree HEAD; printf "040000 tree %s\t.git\n" "$dotgit"; } | $real mktree)
	$real update-ref HEAD "$($real commit-tree "$root" -p HEAD -m evil)"
	$real bundle create -q - "$SBX_BASE..HEAD"' >dotgit.sh
test_expect_success 'a result whose tree has a .git directory is rejected' '
	run_hostile 6 dotgit.sh &&
	rejected 6 &&
	grep -e "entry named .\.git." -e "hasDotgit: contains .\.git." err
'

write_agent big.sh <<'EOF'
#!/bin/sh
head -c 1048576 /dev/urandom > big.bin
EOF
test_expect_success 'a result over sbx.maxResultSize is rejected' '
	git -C repo config sbx.maxResultSize 64k &&
	run_hostile 7 big.sh &&
	git -C repo config --unset sbx.maxResultSize &&
	rejected 7 &&
	grep -i "size" err
'

write_agent flood.sh <<'EOF'
#!/bin/sh
echo "before the flood" > flood.txt
head -c 2147483648 /dev/zero
echo "after the flood" >> flood.txt
EOF
test_expect_success 'a 2 GiB stdout flood: the log stays bounded and the task ends' '
	git -C repo config sbx.maxLogSize 1m &&
	run_hostile 8 flood.sh --timeout 60s &&
	git -C repo config --unset sbx.maxLogSize &&
	size=$(wc -c < repo/.git/sbx/tasks/8/log) &&
	say "log: $size bytes; exit $(cat code)" &&
	test "$size" -le $((1048576 + 200)) &&
	grep "output over sbx.maxLogSize" repo/.git/sbx/tasks/8/log &&
	git -C repo show sbx/8:flood.txt | grep "before the flood"
'

write_agent forkbomb.sh <<'EOF'
#!/bin/sh
echo "before the bomb" > bomb.txt
git add bomb.txt && git commit -q -m "before the bomb"
bomb() { bomb | bomb & }
bomb
sleep 600
EOF
test_expect_success 'a fork bomb is contained: the task ends and says why' '
	run_hostile 9 forkbomb.sh --timeout 20s &&
	(cd repo && git sbx show 9) >show &&
	grep "^state: *failed" show &&
	grep "timed out" show &&
	if test "$(cat code)" = 1; then
		git -C repo log --format=%s -1 sbx/9 >s &&
		echo "before the bomb" >expect && test_cmp expect s
	fi
'

write_agent garbage.sh <<'EOF'
#!/bin/sh
echo "some work" > work.txt
sudo sh -c '
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name")" = sbx.channel ] || continue
		if printf "GARBAGE GARBAGE GARBAGE" 2>/dev/null > "/dev/${p##*/}"; then
			echo "wrote garbage"
		else
			echo "channel port busy"
		fi
	done'
sleep 2
EOF
test_expect_success 'garbage written straight to the channel device: refused, or the session ends with a clear error' '
	run_hostile 10 garbage.sh &&
	code=$(cat code) &&
	if test "$code" = 128; then
		grep "error: task 10 failed: .*channel" err
	else
		test "$code" = 0 && grep "channel port busy" out
	fi &&
	! pgrep -f "qemu-system.*$TRASH_DIRECTORY" >/dev/null
'

test_expect_success 'after all that: the repository is intact and gc finds nothing to fix' '
	git -C repo fsck --no-progress &&
	(cd repo && git sbx gc) >gc &&
	cat gc
'

test_done
