#!/bin/sh
# git-sbx hook: installed by `git sbx hooks install`; `git sbx hooks uninstall` puts back what was here.
# pre-push: refuses to push an sbx/<id> branch whose task was not accepted
# (SBX_ALLOW_PUSH=1 or git push --no-verify overrides); then the hook that
# was here before, with the same input.
input=$(mktemp "${TMPDIR:-/tmp}/sbx-pre-push.XXXXXX") || exit 1
trap 'rm -f "$input"' EXIT
cat > "$input" || exit 1
git sbx hooks run pre-push "$@" < "$input" || exit $?
chain="$(dirname "$0")/pre-push.sbx-chain"
if [ -x "$chain" ]; then
	"$chain" "$@" < "$input" || exit $?
fi
exit 0
