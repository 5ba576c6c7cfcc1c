// SPDX-License-Identifier: MIT
/* The shell scripts a task runs in the guest (sbx/task-scripts.h). */
#include "sbx/task-scripts.h"
#include "sbx/proto.h"

/* Staged by root: the base bundle, the prompt, a script agent. */
const char sbx_task_stage_script[] =
	"umask 022 && mkdir -p /run/sbx && cat > \"/run/sbx/$1\" && chmod \"$2\" \"/run/sbx/$1\"";

/* Staged by root, all at once: an archive of them (sbx/tar.h) on stdin. */
const char sbx_task_stage_tar_script[] =
	"umask 022 && mkdir -p /run/sbx && exec tar -x -f - -C /run/sbx";

/* The agent's commits tell sbx-init (a checkpoint hint; sbx/proto.h, NOTE). */
#define SBX_HOOKS_LINE \
	"if [ -x " SBX_NOTE_HOOKS "/post-commit ]; then git config core.hooksPath " SBX_NOTE_HOOKS "; fi\n"

/*
 * The agent user's clone of the base.  `git clone` cannot take a cut
 * bundle (docs/design.md, "Git as the transport"), so: init, shallow list,
 * fetch, reset.
 */
const char sbx_task_clone_script[] =
	"set -e\n"
	"cd /workspace\n"
	"git init -q .\n"
	"git symbolic-ref HEAD \"refs/heads/$SBX_BRANCH\"\n"
	"if [ -n \"$SBX_SHALLOW\" ]; then printf '%s\\n' $SBX_SHALLOW > .git/shallow; fi\n"
	"git fetch -q /run/sbx/base.bundle \"+refs/heads/$SBX_BRANCH:refs/remotes/host/$SBX_BRANCH\"\n"
	"git reset -q --hard \"refs/remotes/host/$SBX_BRANCH\"\n"
	"git config user.name \"$SBX_USER_NAME\"\n"
	"git config user.email \"$SBX_USER_EMAIL\"\n"
	SBX_HOOKS_LINE
	"rm -f /run/sbx/base.bundle 2>/dev/null || true\n";

/*
 * After a warm base's restore (sbx/task-warm.c), as the agent user: the
 * guest's /workspace holds the warm base's commit on sbx/warm, with what
 * its setup left (node_modules, ...).  With SBX_FETCH set, fetch what was
 * sent in /run/sbx/base.bundle (an incremental bundle whose prerequisites the guest has, or a whole one
 * with its shallow list), move to the task's branch at its base (tracked
 * files as in the base; untracked and ignored ones stay), and leave the
 * refs a cold clone leaves: the task's branch and host/<branch>.
 */
const char sbx_task_update_script[] =
	"set -e\n"
	"cd /workspace\n"
	"if [ -n \"$SBX_FETCH\" ]; then\n"
	"  if [ -n \"$SBX_SHALLOW\" ]; then printf '%s\\n' $SBX_SHALLOW >> .git/shallow; fi\n"
	"  git fetch -q /run/sbx/base.bundle \"+refs/heads/$SBX_BRANCH:refs/remotes/host/$SBX_BRANCH\"\n"
	"  rm -f /run/sbx/base.bundle 2>/dev/null || true\n"
	"fi\n"
	"git checkout -q -f -B \"$SBX_BRANCH\" \"$SBX_BASE\"\n"
	"{ echo \"update refs/remotes/host/$SBX_BRANCH $SBX_BASE\"\n"
	"  git for-each-ref --format='%(refname)' refs/heads/ refs/remotes/host/ |\n"
	"    grep -vxF -e \"refs/heads/$SBX_BRANCH\" -e \"refs/remotes/host/$SBX_BRANCH\" |\n"
	"    sed 's/^/delete /'; } | git update-ref --stdin\n"
	"git config user.name \"$SBX_USER_NAME\"\n"
	"git config user.email \"$SBX_USER_EMAIL\"\n"
	SBX_HOOKS_LINE;

/*
 * The agent: $SBX_PROMPT comes from the staged file (a prompt may be larger
 * than one channel string), then the agent's command line.
 */
const char sbx_task_agent_wrapper[] =
	"if [ \"$(wc -c < \"$SBX_PROMPT_FILE\")\" -le 100000 ]; then\n"
	"  SBX_PROMPT=$(cat \"$SBX_PROMPT_FILE\"); export SBX_PROMPT\n"
	"else\n"
	"  echo 'git-sbx: the prompt is over 100000 bytes: read it from $SBX_PROMPT_FILE' >&2\n"
	"fi\n"
	"exec sh -c \"$1\"\n";

/*
 * Before collecting: end every process the agent left behind (daemons, a
 * fork bomb), so nothing writes to /workspace while it is committed.
 * kill(-1) as the agent user reaches all of its processes but this shell.
 */
const char sbx_task_sweep_script[] =
	"i=0\n"
	"while [ $i -lt 50 ] && kill -KILL -1 2>/dev/null; do i=$((i + 1)); done\n"
	"exit 0\n";

/*
 * What comes back: leftovers committed (with no hook of the agent's run),
 * then the bundle on stdout.  Exit 3: nothing to send (HEAD is the base).
 */
const char sbx_task_collect_script[] =
	"cd /workspace || exit 90\n"
	"git add -A || exit 91\n"
	"if ! git diff --cached --quiet; then\n"
	"  git -c core.hooksPath=/dev/null -c commit.gpgSign=false commit -q --no-verify \\\n"
	"      -m 'sbx: uncommitted work' >&2 || exit 92\n"
	"fi\n"
	"head=$(git rev-parse -q --verify 'HEAD^{commit}') || { echo 'no HEAD commit' >&2; exit 93; }\n"
	"[ \"$head\" != \"$SBX_BASE\" ] || exit 3\n"
	"exec git bundle create -q - \"$SBX_BASE..HEAD\"\n";
