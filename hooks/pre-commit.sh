#!/bin/sh
# git-sbx hook: installed by `git sbx hooks install`; `git sbx hooks uninstall` puts back what was here.
# pre-commit: the hook that was here before, as it was; then each sbx.check
# command on the staged tree, inside a throwaway VM (git sbx run --staged),
# never on this machine.  git commit --no-verify skips both.
chain="$(dirname "$0")/pre-commit.sbx-chain"
if [ -x "$chain" ]; then
	"$chain" "$@" || exit $?
fi
exec git sbx hooks run pre-commit "$@"
