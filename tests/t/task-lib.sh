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

repo_fingerprint() {
	(
		cd "$1" &&
		git for-each-ref --format='%(refname) %(objectname)' | grep -v '^refs/heads/sbx/' ;
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
