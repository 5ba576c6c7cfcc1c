/* Generated from hooks/pre-commit.sh and hooks/pre-push.sh by hooks/gen-templates.sh: do not edit. */
#include "sbx/hooks.h"

const char *const sbx_hook_templates[SBX_HOOKS_COUNT] = {
	/* hooks/pre-commit.sh */
	"#!/bin/sh\n"
	"# git-sbx hook: installed by `git sbx hooks install`; `git sbx hooks uninstall` puts back what was here.\n"
	"# pre-commit: the hook that was here before, as it was; then each sbx.check\n"
	"# command on the staged tree, inside a throwaway VM (git sbx run --staged),\n"
	"# never on this machine.  git commit --no-verify skips both.\n"
	"chain=\"$(dirname \"$0\")/pre-commit.sbx-chain\"\n"
	"if [ -x \"$chain\" ]; then\n"
	"	\"$chain\" \"$@\" || exit $?\n"
	"fi\n"
	"exec git sbx hooks run pre-commit \"$@\"\n"
	,
	/* hooks/pre-push.sh */
	"#!/bin/sh\n"
	"# git-sbx hook: installed by `git sbx hooks install`; `git sbx hooks uninstall` puts back what was here.\n"
	"# pre-push: refuses to push an sbx/<id> branch whose task was not accepted\n"
	"# (SBX_ALLOW_PUSH=1 or git push --no-verify overrides); then the hook that\n"
	"# was here before, with the same input.\n"
	"input=$(mktemp \"${TMPDIR:-/tmp}/sbx-pre-push.XXXXXX\") || exit 1\n"
	"trap 'rm -f \"$input\"' EXIT\n"
	"cat > \"$input\" || exit 1\n"
	"git sbx hooks run pre-push \"$@\" < \"$input\" || exit $?\n"
	"chain=\"$(dirname \"$0\")/pre-push.sbx-chain\"\n"
	"if [ -x \"$chain\" ]; then\n"
	"	\"$chain\" \"$@\" < \"$input\" || exit $?\n"
	"fi\n"
	"exit 0\n"
	,
};
