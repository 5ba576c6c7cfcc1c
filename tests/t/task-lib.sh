# tests/t/task-lib.sh: helpers for the git sbx task tests, sourced after
# tests/t/test-lib.sh (or tests/kvm/lib.sh) and tests/kvm/image-lib.sh.
#
#   task_repo DIR          a repository with history: 6 commits, a subdirectory,
#                          a sample hook and some config
#   repo_fingerprint DIR   everything a task must never change, one line per
#                          thing: refs other than refs/heads/sbx/*, HEAD,
#                          config, hooks, index, the main worktree's files
#   objects_fingerprint DIR  the object and pack files
#   write_agent FILE       the agent script, from stdin
#   write_edit_agent FILE  the agent of the main case: edits, adds, deletes and
#                          renames, commits once, leaves more uncommitted
#   check_edit_result REPO ID  sbx/ID holds exactly that, in two commits, and
#                          the task's worktree shows it

# tests/kvm/lib.sh has no test_cmp.
if ! command -v test_cmp >/dev/null 2>&1; then
	test_cmp() { diff -u "$1" "$2"; }
fi

task_repo() {
	git init -q "$1" &&
	(
		cd "$1" &&
		git config user.name 'Host User' &&
		git config user.email 'host@example.com' &&
		mkdir -p src doc &&
		for i in 1 2 3 4 5 6; do
			echo "line $i" >> src/main.c &&
			echo "doc $i" > "doc/page$i.txt" &&
			git add -A && git commit -q -m "commit $i" || return 1
		done &&
		echo keep > keep.txt && echo gone > gone.txt && echo moving > old-name.txt &&
		git add -A && git commit -q -m "files for the agent" &&
		printf '#!/bin/sh\nexit 0\n' > .git/hooks/pre-commit &&
		chmod +x .git/hooks/pre-commit &&
		git config core.sbxtest host-value
	)
}

# What a task must not change: every ref but its branch and the audit notes
# (refs/notes/sbx), HEAD, config, index, hooks and the files.
repo_fingerprint() {
	(
		cd "$1" &&
		git for-each-ref --format='%(refname) %(objectname)' |
			grep -v -e '^refs/heads/sbx/' -e '^refs/notes/sbx ' ;
		cat .git/HEAD &&
		sha256sum .git/config .git/index &&
		find .git/hooks -type f -exec sha256sum {} + | sort &&
		find . -path ./.git -prune -o -type f -exec sha256sum {} + | sort &&
		git status --porcelain
	)
}

objects_fingerprint() {
	(cd "$1/.git/objects" && find . -type f | sort)
}

write_agent() {
	cat > "$1"
}

write_edit_agent() {
	cat > "$1" <<'EOF'
#!/bin/sh
set -e
echo "agent: prompt=$SBX_PROMPT"
echo "agent: history $(git log --oneline | wc -l) commits, author $(git config user.name)"
echo "agent: on $(git symbolic-ref --short HEAD), base $SBX_BASE"
echo added > added.txt
echo "line 7" >> src/main.c
git rm -q gone.txt
git mv old-name.txt new-name.txt
git add -A
git commit -q -m "agent: edit, add, delete, rename"
echo "more" >> keep.txt
echo untracked > untracked.txt
rm doc/page1.txt
echo "to stderr" >&2
EOF
}

check_edit_result() {
	(
		cd "$1" &&
		base=$(git sbx show --json "$2" | sed -n 's/.*"base": "\([0-9a-f]*\)".*/\1/p') &&
		test -n "$base" &&
		git log --format=%s "$base..sbx/$2" >../subjects &&
		printf "sbx: uncommitted work\nagent: edit, add, delete, rename\n" >../expect &&
		test_cmp ../expect ../subjects &&
		git diff --name-status -M "$base" "sbx/$2~1" >../first &&
		printf "A\tadded.txt\nD\tgone.txt\nR100\told-name.txt\tnew-name.txt\nM\tsrc/main.c\n" >../expect &&
		test_cmp ../expect ../first &&
		git diff --name-status "sbx/$2~1" "sbx/$2" >../second &&
		printf "D\tdoc/page1.txt\nM\tkeep.txt\nA\tuntracked.txt\n" >../expect &&
		test_cmp ../expect ../second &&
		wt=.git/sbx/worktrees/$2 &&
		test "$(git -C "$wt" rev-parse HEAD)" = "$(git rev-parse "sbx/$2")" &&
		test -z "$(git -C "$wt" status --porcelain)" &&
		test -f "$wt/added.txt" && test -f "$wt/new-name.txt" &&
		! test -e "$wt/gone.txt" && ! test -e "$wt/old-name.txt" && ! test -e "$wt/doc/page1.txt" &&
		test "$(cat "$wt/untracked.txt")" = untracked
	)
}
