#!/bin/sh
test_description='hostile results (bundles made with the git CLI, no VM): embedded repositories,
escaping symlinks, what git fsck refuses, deep trees and decompression bombs are refused before
anything is published; the branch stays at the base and no object is added'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"
. "$SBX_SRC_DIR/tests/t/task-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task
marker=$TRASH_DIRECTORY/fsmonitor-ran

# guest NAME: a fresh clone of repo at main, on branch "work", in g/; the
# body that follows makes the agent's commits; bundle NAME then packs them.
guest() {
	rm -rf g && git clone -q repo g && git -C g checkout -qb work
}
bundle() {
	git -C g bundle create -q "../$1.bundle" main..HEAD
}

# task: a new task on main; prints its id.
task() {
	(cd repo && "$helper" create "hostile result") || return 1
}

# refused ID NAME PATTERN: importing NAME.bundle into task ID fails with a
# message matching PATTERN; sbx/ID stays at main; objects/ is unchanged.
refused() {
	objects_fingerprint repo >objects.before &&
	repo_fingerprint repo >repo.before &&
	(cd repo && test_must_fail "$helper" import "$1" "../$2.bundle" 2>../err >../out) &&
	cat err &&
	grep -e "$3" err &&
	test "$(git -C repo rev-parse "sbx/$1")" = "$(git -C repo rev-parse main)" &&
	objects_fingerprint repo >objects.after &&
	test_cmp objects.before objects.after &&
	repo_fingerprint repo >repo.after &&
	test_cmp repo.before repo.after &&
	! ls repo/.git/objects | grep sbx-incoming
}

# git status in every directory of a worktree, as a user would browse it.
status_everywhere() {
	find "$1" -path "*/.git" -prune -o -type d -print | while read -r d; do
		(cd "$d" && git status >/dev/null 2>&1)
	done
	true
}

test_expect_success 'setup: a repository and its guest' '
	task_repo repo
'

# The attack is shown to work in the guest's clone first (and to be stopped
# there by the safe.bareRepository=explicit the docs advise), so this case fails
# if the refusal goes.
test_expect_success 'an embedded repository with core.fsmonitor is refused, and no git status runs it' '
	guest && (
		cd g && mkdir -p sub/objects/info sub/refs/heads &&
		echo "ref: refs/heads/main" >sub/HEAD &&
		echo keep >sub/objects/info/keep && echo keep >sub/refs/heads/keep &&
		printf "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\tfsmonitor = touch %s; false\n" "$marker" >sub/config &&
		git add -A && git commit -qm "a fixture" &&
		test_path_is_missing "$marker" &&
		(cd sub && git -c safe.bareRepository=explicit status >/dev/null 2>&1; true) &&
		test_path_is_missing "$marker" &&
		(cd sub && git status >/dev/null 2>&1; true) &&
		test_path_is_file "$marker"
	) &&
	rm -f "$marker" &&
	bundle embedded && id=$(task) &&
	refused $id embedded ".sub. looks like a git repository .*sbx.allowEmbeddedRepositories" &&
	status_everywhere repo/.git/sbx/worktrees/$id &&
	status_everywhere repo &&
	test_path_is_missing "$marker"
'

test_expect_success 'the same in any case spelling, and at the top of the tree' '
	guest && (
		cd g && mkdir -p Sub/OBJECTS Sub/Refs && echo x >Sub/head && echo x >Sub/OBJECTS/x &&
		echo x >Sub/Refs/x && git add -A && git commit -qm "case"
	) && bundle case && git -C g rev-parse work >case.tip && id=$(task) &&
	refused $id case ".Sub. looks like a git repository" &&
	guest && (
		cd g && mkdir -p objects refs && echo x >HEAD && echo x >objects/x && echo x >refs/x &&
		git add -A && git commit -qm "top"
	) && bundle top && id=$(task) &&
	refused $id top "./. looks like a git repository"
'

test_expect_success 'a path with terminal escapes is named without them' '
	guest && (
		cd g && d=$(printf "x\033]0;owned\007") && mkdir -p "$d/objects" "$d/refs" &&
		echo x >"$d/HEAD" && echo x >"$d/objects/x" && echo x >"$d/refs/x" &&
		git add -A && git commit -qm escape
	) && bundle escape && id=$(task) &&
	refused $id escape ".x?]0;owned?. looks like a git repository" &&
	! grep "$(printf "\033")" err
'

test_expect_success 'sbx.allowEmbeddedRepositories lets a repository keep such fixtures' '
	test_when_finished "git -C repo config --unset sbx.allowEmbeddedRepositories" &&
	git -C repo config sbx.allowEmbeddedRepositories true &&
	id=$(task) && (cd repo && "$helper" import $id ../case.bundle) &&
	test "$(git -C repo rev-parse sbx/$id)" = "$(cat case.tip)"
'

test_expect_success 'symlinks out of the worktree are refused' '
	guest && (cd g && ln -s ../../../hooks evil && git add evil && git commit -qm evil) &&
	bundle evil && id=$(task) &&
	refused $id evil "symlink .evil. points outside the worktree" &&
	guest && (cd g && mkdir -p a/b && ln -s ../../../x a/b/up && git add -A && git commit -qm up) &&
	bundle up && id=$(task) &&
	refused $id up "symlink .a/b/up. points outside the worktree" &&
	guest && (cd g && ln -s /home/user/.ssh/id_rsa abs && git add abs && git commit -qm abs) &&
	bundle abs && id=$(task) &&
	refused $id abs "symlink .abs. points to ./home/user/.ssh/id_rsa." &&
	guest && (cd g && ln -s .git/hooks dotgit && git add dotgit && git commit -qm dotgit) &&
	bundle dotgit && id=$(task) &&
	refused $id dotgit "symlink .dotgit. points to .\.git/hooks." &&
	guest && (cd g && mkdir -p c && ln -s ../doc/../../x c/zig && git add -A && git commit -qm zig) &&
	bundle zig && id=$(task) &&
	refused $id zig "symlink .c/zig. points to"
'

test_expect_success 'a tree the host has, moved up by a new tree, cannot make its symlink escape' '
	# doc/deep/link -> ../../keep.txt is fine where it is; the same tree as x/ is not.
	guest && (
		cd g && mkdir -p doc/deep && ln -s ../../keep.txt doc/deep/link &&
		git add -A && git commit -qm "fine link"
	) && bundle fine && id=$(task) &&
	(cd repo && "$helper" import $id ../fine.bundle) &&
	test -f repo/.git/sbx/worktrees/$id/doc/deep/link &&
	git -C repo merge -q --ff-only sbx/$id && guest && (
		cd g && git read-tree --prefix=x/ "$(git rev-parse HEAD:doc/deep)" && git commit -qm moved
	) && bundle moved && id=$(task) &&
	refused $id moved "symlink .x/link. points outside the worktree"
'

test_expect_success 'duplicate tree entries are refused by git fsck' '
	guest && (
		cd g && blob=$(echo dup | git hash-object -w --stdin) &&
		tree=$(python3 -c "import sys; e=b\"100644 a.txt\\0\"+bytes.fromhex(sys.argv[1]); sys.stdout.buffer.write(e+e)" $blob |
			git hash-object -t tree -w --literally --stdin) &&
		c=$(git commit-tree -p HEAD -m dup $tree) && git update-ref refs/heads/work $c
	) && bundle dup && id=$(task) &&
	refused $id dup "duplicateEntries"
'

test_expect_success 'a commit git fsck only warns about (GitHub refuses it on push) is refused' '
	guest && (
		cd g && c=$(printf "tree %s\nparent %s\nauthor A <a@example.com> 1700000000 +99999\ncommitter C <c@example.com> 1700000000 +0000\n\nbad zone\n" \
			"$(git rev-parse HEAD^{tree})" "$(git rev-parse HEAD)" |
			git hash-object -t commit -w --literally --stdin) &&
		git update-ref refs/heads/work $c
	) && bundle zone && id=$(task) &&
	refused $id zone "badTimezone"
'

test_expect_success '.gitmodules with a ../ name or an --upload-pack= url are refused' '
	guest && (
		cd g && printf "[submodule \"../../hooks\"]\n\tpath = lib\n\turl = https://example.com/x\n" >.gitmodules &&
		git add .gitmodules && git commit -qm name
	) && bundle modname && id=$(task) &&
	refused $id modname "gitmodulesName" &&
	guest && (
		cd g && printf "[submodule \"lib\"]\n\tpath = lib\n\turl = --upload-pack=touch$marker\n" >.gitmodules &&
		git add .gitmodules && git commit -qm url
	) && bundle modurl && id=$(task) &&
	refused $id modurl "gitmodulesUrl"
'

test_expect_success 'a symlinked .gitattributes is refused' '
	guest && (cd g && ln -s doc/page1.txt .gitattributes && git add .gitattributes && git commit -qm attr) &&
	bundle attr && id=$(task) &&
	refused $id attr "gitattributesSymlink"
'

test_expect_success 'a gitlink to a commit the host lacks, without .gitmodules, is refused' '
	guest && (
		cd g && git update-index --add --cacheinfo 160000,0123456789abcdef0123456789abcdef01234567,vendor/lib &&
		git commit -qm gitlink
	) && bundle gitlink && id=$(task) &&
	refused $id gitlink "gitlink .vendor/lib. to a commit the repository does not have"
'

deep_path() {
	p=d i=1
	while test $i -lt $1; do p=$p/d; i=$((i + 1)); done
	echo $p
}

test_expect_success 'a 100-deep tree is refused; a 40-deep one imports and rm removes it all' '
	guest && (cd g && mkdir -p "$(deep_path 99)" && echo x >"$(deep_path 99)/f" &&
		git add -A && git commit -qm deep) &&
	bundle deep100 && id=$(task) &&
	refused $id deep100 "nested more than 48 directories deep (sbx.maxTreeDepth)" &&
	(cd repo && git sbx rm $id) &&
	guest && (cd g && mkdir -p "$(deep_path 39)" && echo x >"$(deep_path 39)/f" &&
		git add -A && git commit -qm deep) &&
	bundle deep40 && id=$(task) &&
	(cd repo && "$helper" import $id ../deep40.bundle) &&
	test_path_is_file "repo/.git/sbx/worktrees/$id/$(deep_path 39)/f" &&
	(cd repo && git sbx rm --force $id) &&
	test_path_is_missing repo/.git/sbx/worktrees/$id
'

test_expect_success 'a delta bomb (16 KB bundle, 1 GiB blob) is refused while streaming, in bounded memory' '
	python3 "$SBX_SRC_DIR/tests/t/helper/make-bomb.py" bomb.bundle "$(git -C repo rev-parse main)" &&
	test $(wc -c <bomb.bundle) -lt 20000 &&
	git -C repo bundle verify ../bomb.bundle &&
	id=$(task) &&
	SBX_TEST_RUSAGE=1 refused $id bomb "is 1073741824 bytes, more than the limit of 104857600 (sbx.maxObjectSize)" &&
	sed -n "s/^maxrss-kib self=\([0-9]*\) children=\([0-9]*\)$/\1 \2/p" err >rss &&
	read self kids <rss && say "peak RSS: importer $self KiB, largest child $kids KiB (0: git index-pack was never started)" &&
	test "$self" -lt 102400 && test "$kids" -lt 102400 &&
	test_path_is_missing "repo/.git/sbx/worktrees/$id/big.bin"
'

test_expect_success 'with sbx.maxObjectSize raised, the total budget (sbx.maxInflatedSize) refuses it' '
	test_when_finished "git -C repo config --unset sbx.maxObjectSize" &&
	git -C repo config sbx.maxObjectSize 2g && id=$(task) &&
	SBX_TEST_RUSAGE=1 refused $id bomb "add up to more than the limit of 1073741824 bytes (sbx.maxInflatedSize)" &&
	sed -n "s/^maxrss-kib self=\([0-9]*\) children=\([0-9]*\)$/\1 \2/p" err >rss &&
	read self kids <rss && test "$self" -lt 102400 && test "$kids" -lt 102400
'

test_expect_success 'an ordinary result with a symlink inside the worktree still imports' '
	guest && (cd g && ln -s doc/page2.txt readme-link && mkdir -p src/sub && ln -s ../../keep.txt src/sub/k &&
		echo more >>keep.txt && git add -A && git commit -qm ordinary) &&
	bundle ordinary && id=$(task) &&
	(cd repo && "$helper" import $id ../ordinary.bundle) &&
	test "$(git -C repo rev-parse sbx/$id)" = "$(git -C g rev-parse work)" &&
	git -C repo fsck --strict --no-progress
'

test_expect_success 'a symlink the repository itself has, unchanged at its path, does not refuse a result' '
	(cd repo && ln -s /usr/share/doc abs-doc && git add abs-doc && git commit -qm "an absolute link of our own") &&
	guest && (cd g && echo again >>keep.txt && git add -A && git commit -qm "beside the link") &&
	bundle beside && id=$(task) &&
	(cd repo && "$helper" import $id ../beside.bundle) &&
	test "$(git -C repo rev-parse sbx/$id)" = "$(git -C g rev-parse work)" &&
	guest && (cd g && git mv abs-doc moved-doc && git commit -qm "moved") &&
	bundle moved && id=$(task) &&
	refused $id moved "symlink .moved-doc. points to ./usr/share/doc."
'

test_done
