#!/bin/sh
test_description='bash completion: git sbx <TAB> through git own completion offers every command and every option -h lists'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

gitcomp=/usr/share/bash-completion/completions/git
command -v bash >/dev/null 2>&1 || test_skip_all "no bash"
[ -r "$gitcomp" ] || test_skip_all "git's bash completion ($gitcomp) is not installed"

# complete WORDS...: what bash would offer for the command line WORDS (the
# last one is being completed), as git's completion computes it with ours.
cat >complete.bash <<EOF
. "$gitcomp"
. "$SBX_SRC_DIR/cmd/completion/git-sbx"
COMP_WORDS=("\$@"); COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1))
COMP_LINE="\$*"; COMP_POINT=\${#COMP_LINE}
COMPREPLY=()
__git_wrap__git_main
for w in "\${COMPREPLY[@]}"; do printf '%s\n' "\${w% }"; done
EOF
complete() { bash complete.bash "$@"; }

test_expect_success 'git sbx re<TAB> offers review (and reject, retry, rewind)' '
	complete git sbx re >out &&
	printf "reject\nretry\nreview\nrewind\n" >expect && test_cmp expect out
'

test_expect_success 'git sbx task --ag<TAB> offers --agent' '
	complete git sbx task --ag >out && grep -x -- --agent out && grep -x -- --agent-cmd out
'

test_expect_success 'every command git sbx -h lists is offered' '
	git sbx -h | sed -n "s/^   \([a-z][a-z-]*\) .*/\1/p" >cmds && test -s cmds &&
	complete git sbx "" >offered &&
	while read c; do grep -qx "$c" offered || { echo "missing command $c"; exit 1; }; done <cmds
'

test_expect_success 'every option each command -h lists is offered' '
	for c in $(cat cmds) "disk check" "disk create" "disk info" "disk seal" "disk squash" \
		 "image build" "image ls" "image rm" "vm run" "vm restore"; do
		case "$c" in help|disk|image|vm) continue ;; esac
		git sbx $c -h 2>&1 | sed -n "s/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p" | sort -u >want &&
		complete git sbx $c -- | sed "s/=\$//" | sort -u >got &&
		for o in $(cat want); do
			grep -qx -- "$o" got || { echo "git sbx $c: $o is not completed"; exit 1; }
		done || exit 1
	done
'

test_expect_success 'subcommands, option values and task ids' '
	complete git sbx disk c >out && printf "check\ncreate\n" >expect && test_cmp expect out &&
	complete git sbx review --format= >out && printf "text\nmarkdown\n" >expect && test_cmp expect out &&
	complete git sbx accept --f >out && test "$(cat out)" = --ff-only &&
	complete git sbx task --backend "" >out && printf "kvm\nqemu\n" >expect && test_cmp expect out &&
	git init -q repo && cd repo && git commit -q --allow-empty -m base &&
	"$SBX_BUILD_DIR/tests/t/helper/sbx-test-task" create one >/dev/null &&
	"$SBX_BUILD_DIR/tests/t/helper/sbx-test-task" create two >/dev/null &&
	bash ../complete.bash git sbx accept "" >out && printf "1\n2\n" >expect && test_cmp expect out
'

test_done
