#!/bin/sh
test_description='git sbx: help, versions, unknown commands, repository discovery'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_expect_success 'git sbx -h outside a repository prints usage and exits 0' '
	mkdir nowhere && cd nowhere &&
	GIT_CEILING_DIRECTORIES=$TRASH_DIRECTORY git sbx -h >out 2>err &&
	grep "^usage: git sbx" out &&
	grep "version" out &&
	test ! -s err
'

test_expect_success 'git sbx --help from git-sbx itself prints the same usage' '
	git-sbx --help >out &&
	grep "^usage: git sbx" out
'

test_expect_success 'git sbx with no command prints usage and exits 129' '
	test_expect_code 129 git sbx 2>err &&
	grep "^usage: git sbx" err
'

test_expect_success 'an unknown subcommand exits 129 with a git-style message' '
	test_expect_code 129 git sbx frobnicate 2>err &&
	grep "git sbx: .frobnicate. is not a git sbx command. See .git sbx --help.\." err
'

test_expect_success 'an unknown option of a command exits 129 and shows its usage' '
	test_expect_code 129 git sbx version --bogus 2>err &&
	grep "^error: unknown option .bogus." err &&
	grep "^usage: git sbx version" err
'

test_expect_success 'git sbx <cmd> -h and git sbx help <cmd> work outside a repository' '
	cd / &&
	git sbx version -h >"$TRASH_DIRECTORY/out" &&
	grep "^usage: git sbx version" "$TRASH_DIRECTORY/out" &&
	git sbx help version >"$TRASH_DIRECTORY/out2" &&
	test_cmp "$TRASH_DIRECTORY/out" "$TRASH_DIRECTORY/out2"
'

test_expect_success 'git sbx help of an unknown command says so' '
	test_expect_code 1 git sbx help nope 2>err &&
	grep "no such command .nope." err
'

test_expect_success 'git sbx version prints libgit2, zstd and KVM lines outside a repository' '
	mkdir -p outside && cd outside &&
	GIT_CEILING_DIRECTORIES=$TRASH_DIRECTORY git sbx version >out &&
	grep "^git-sbx version [0-9]" out &&
	grep "^libgit2: 1\.[0-9]" out &&
	grep "^zstd: [0-9]" out &&
	grep "^kvm: " out &&
	grep "^repository: none" out
'

test_expect_success 'git -C some/repo sbx version finds that repository' '
	git init -q some/repo &&
	git -C some/repo sbx version >out &&
	grep "^repository: $TRASH_DIRECTORY/some/repo" out
'

test_expect_success 'GIT_DIR and GIT_WORK_TREE are honoured' '
	git init -q --bare bare.git &&
	mkdir wt &&
	GIT_DIR=$TRASH_DIRECTORY/bare.git GIT_WORK_TREE=$TRASH_DIRECTORY/wt git sbx version >out &&
	grep "^repository: $TRASH_DIRECTORY/wt" out &&
	GIT_DIR=$TRASH_DIRECTORY/bare.git git sbx version >out2 &&
	grep "^repository: $TRASH_DIRECTORY/bare.git" out2
'

test_expect_success 'git sbx version from a subdirectory finds the top' '
	mkdir -p some/repo/a/b && cd some/repo/a/b &&
	git sbx version >out &&
	grep "^repository: $TRASH_DIRECTORY/some/repo\$" out
'

test_expect_success 'git sbx version --short prints one line' '
	git sbx version --short >out &&
	test $(wc -l <out) -eq 1
'

test_done
