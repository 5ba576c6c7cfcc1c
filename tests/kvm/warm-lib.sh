# tests/kvm/warm-lib.sh: shared by tests/kvm/warm.kvm and warm-ops.kvm, sourced
# after tests/kvm/lib.sh, tests/kvm/image-lib.sh and tests/t/task-lib.sh.
#
# Sets up $KVM_TMP as the home and cache, builds the test image ("default",
# busybox and git), a repository `repo` (tests/t/task-lib.sh) whose sbx.setup
# leaves ignored files (node_modules/m, as `npm ci` would), and agent.sh: the
# edit agent of task-lib.sh that also prints what it saw (the setup's file,
# new.txt, its branch and head, its refs, the author, 16 random bytes, the
# clock).  Then:
#   run_task ID         one task (kvm, 180 s) with that agent; out.ID, err.ID
#   show_task ID        what a failed task leaves, as comments
#   summary_times ID    its summary's time and start-to-agent
#   key_of ID           the warm base it restored (show --json), or ""
#   warm_dirs           how many warm bases are in the store
#   short KEY           the first 12 digits
#   agent_line ID       "<head> <n> commits" the agent saw
#   trees ID            the trees of sbx/ID and sbx/ID~1
SBX_CACHE_DIR=$KVM_TMP/cache
TMPDIR=$KVM_TMP
HOME=$KVM_TMP
GIT_CONFIG_NOSYSTEM=1
export SBX_CACHE_DIR TMPDIR HOME GIT_CONFIG_NOSYSTEM
PATH=$SBX_BUILD_DIR:$PATH
git config --global init.defaultBranch main
cd "$KVM_TMP" || exit 1

kvm_ok "an image with git builds" sbx_test_image "$KVM_TMP" default git
kvm_ok "a repository with history" task_repo repo
# The setup leaves ignored files (node_modules, as `npm ci` would).
git -C repo config sbx.setup 'echo node_modules >> .git/info/exclude && mkdir -p node_modules && echo setup-ran > node_modules/m && echo setup-output'

# The edit agent of tests/t/task-lib.sh, and what it saw.
cat > agent.sh <<'EOF'
#!/bin/sh
set -e
echo "agent: setup=$(cat node_modules/m 2>/dev/null || echo none) new=$(cat new.txt 2>/dev/null || echo none)"
echo "agent: on $(git symbolic-ref --short HEAD) at $(git rev-parse HEAD), $(git log --oneline | wc -l) commits"
echo "agent: refs $(git for-each-ref --format='%(refname)' | tr '\n' ' ')"
echo "agent: author $(git config user.name) <$(git config user.email)>"
echo "agent: rand=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') date=$(date +%s)"
echo added > added.txt
echo "line 7" >> src/main.c
git rm -q gone.txt
git mv old-name.txt new-name.txt
git add -A
git commit -q -m "agent: edit, add, delete, rename"
echo "more" >> keep.txt
echo untracked > untracked.txt
rm doc/page1.txt
EOF

# What a failed task leaves to look at.
show_task() {
	(cd repo && git sbx show "$1") 2>&1 | sed 's/^/# show: /'
	tail -n 20 "repo/.git/sbx/tasks/$1/log" 2>/dev/null | sed 's/^/# log: /'
	tail -n 30 "repo/.git/sbx/tasks/$1/console.log" 2>/dev/null | sed 's/^/# console: /'
}

now() { date +%s.%N; }
secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.1f", e - s }'; }

# run_task ID: one task, its output in out.ID/err.ID.  (libgit2 does not
# read `git -c`: settings go in the repository's config.)
run_task() {
	id=$1
	t0=$(now)
	(cd repo && git sbx task --backend kvm --timeout 180s --agent script:../agent.sh \
		"warm-test-prompt-7f3a" > ../out.$id 2> ../err.$id)
	status=$?
	echo "# task $id: exit $status after $(secs "$t0" "$(now)") s"
	sed "s/^/# $id: /" out.$id err.$id
	[ $status = 0 ] || show_task $id
	return 0
}
# The summary's numbers: "restore 0.3s, transfer in 1.1s ..." and "start to agent".
summary_times() {
	sed -n 's/^  time: //p; s/.*start to agent \(.*\)$/start to agent \1/p' out.$1 | tr '\n' ' '
}
warm_dirs() {	# warm bases in the store (64 hex; not locks, builds or trash)
	ls repo/.git/sbx/warm 2>/dev/null | grep -c '^[0-9a-f]\{64\}$'
}
key_of() {	# the warm base a task restored (from show --json)
	(cd repo && git sbx show --json "$1") | sed -n 's/.*"warm": {"key": "\([0-9a-f]*\)".*/\1/p'
}

short() { echo "$1" | cut -c1-12; }
agent_line() {	# ID: "<head> <n> commits" the agent saw
	sed -n 's/^agent: on sbx\/[0-9]* at \([0-9a-f]*\), \(.*\)/\1 \2/p' out.$1
}
trees() {	# ID: the trees of its two commits
	git -C repo rev-parse "sbx/$1^{tree}" "sbx/$1~1^{tree}"
}

