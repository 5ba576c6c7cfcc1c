#!/bin/sh
# hooks/gen-templates.sh SRCDIR > hooks/templates.c: the hook scripts as C strings.
set -e
src=$1
echo '/* Generated from hooks/pre-commit.sh and hooks/pre-push.sh by hooks/gen-templates.sh: do not edit. */'
echo '#include "sbx/hooks.h"'
echo
echo 'const char *const sbx_hook_templates[SBX_HOOKS_COUNT] = {'
for name in pre-commit pre-push; do
	echo "	/* hooks/$name.sh */"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/	"/' -e 's/$/\\n"/' "$src/hooks/$name.sh"
	echo '	,'
done
echo '};'
