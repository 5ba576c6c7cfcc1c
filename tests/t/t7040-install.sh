#!/bin/sh
test_description='make install into a temporary prefix: git-sbx, the man page (git help sbx finds it) and the bash completion where git finds it'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

P=$TRASH_DIRECTORY/prefix

test_expect_success 'make install prefix=<temp>: the program, git-sbx.1 in man1, completions/git-sbx' '
	(unset MAKEFLAGS MFLAGS MAKELEVEL; make -s -C "$SBX_BUILD_DIR" install prefix="$P" >install.log 2>&1) ||
		{ cat install.log; exit 1; } &&
	test -x "$P/bin/git-sbx" &&
	test_path_is_file "$P/share/man/man1/git-sbx.1" &&
	test_path_is_file "$P/share/bash-completion/completions/git-sbx" &&
	cmp "$SBX_SRC_DIR/docs/git-sbx.1" "$P/share/man/man1/git-sbx.1" &&
	PATH="$P/bin:$PATH" git sbx -h | grep "^   review "
'

if command -v man >/dev/null 2>&1 && man -l "$SBX_SRC_DIR/docs/git-sbx.1" >/dev/null 2>&1; then
test_expect_success 'git help sbx shows the installed man page (MANPATH), with the review loop' '
	PATH="$P/bin:$PATH" MANPATH="$P/share/man" MANPAGER=cat PAGER=cat MANWIDTH=100 \
		git help sbx >help.out 2>help.err || { cat help.err; exit 1; } &&
	grep "git-sbx - run coding agents" help.out &&
	grep "git sbx review" help.out && grep "git sbx accept" help.out &&
	man -l "$P/share/man/man1/git-sbx.1" 2>/dev/null | grep -q "sbx.acceptMode"
'
else
	say "skipping git help: man(1) cannot format pages here"
fi

if command -v bash >/dev/null 2>&1 && [ -r /usr/share/bash-completion/completions/git ]; then
test_expect_success 'git completion loads the installed completions/git-sbx by name' '
	cat >loader.bash <<-EOF &&
	. /usr/share/bash-completion/completions/git
	# bash-completion loads completions/<name> on demand; git asks for "git-sbx"
	_completion_loader() { [ -r "$P/share/bash-completion/completions/\$1" ] && . "$P/share/bash-completion/completions/\$1"; }
	COMP_WORDS=(git sbx rev); COMP_CWORD=2; COMP_LINE="git sbx rev"; COMP_POINT=11
	__git_wrap__git_main
	printf "%s\n" "\${COMPREPLY[@]}"
	EOF
	bash loader.bash >out && grep "^review" out
'
fi

test_expect_success 'make uninstall removes them' '
	(unset MAKEFLAGS MFLAGS MAKELEVEL; make -s -C "$SBX_BUILD_DIR" uninstall prefix="$P" >uninstall.log 2>&1) &&
	test_path_is_missing "$P/bin/git-sbx" &&
	test_path_is_missing "$P/share/man/man1/git-sbx.1" &&
	test_path_is_missing "$P/share/bash-completion/completions/git-sbx"
'

test_done
