// SPDX-License-Identifier: MIT
/*
 * Unit tests for sbx/agent.c (presets, git config presets, script agents,
 * bad names) and the tree entry names a result may not carry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbx/agent.h"
#include "sbx/bundle.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "tests/unit/git-fixture.h"

static char tmp[256], cwd0[1024];
static struct sbx_repo *repo;
static struct sbx_config *cfg;

static void sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && { %s ; } >/dev/null 2>&1", tmp, cmd);
	if (system(full))
		fail_msg("'%s' failed", cmd);
}

static int setup(void **state)
{
	char *r;

	(void)state;
	assert_non_null(getcwd(cwd0, sizeof(cwd0)));
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-agent.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmp));
	fixture_git_env(tmp);
	sh("git init -q r");
	r = sbx_path_join(tmp, "r");
	assert_int_equal(chdir(r), 0);
	free(r);
	assert_int_equal(sbx_repo_open(&repo), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	(void)state;
	sbx_config_free(cfg);
	cfg = NULL;
	sbx_repo_free(repo);
	repo = NULL;
	assert_int_equal(chdir(cwd0), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void reload(void)
{
	sbx_config_free(cfg);
	cfg = NULL;
	assert_int_equal(sbx_config_open(&cfg, repo), 0);
}

static void test_builtin(void **state)
{
	struct sbx_agent a;

	(void)state;
	reload();
	assert_int_equal(sbx_agent_resolve(&a, cfg, NULL, NULL), 0);
	assert_string_equal(a.label, "claude");
	assert_non_null(strstr(a.command, "claude -p"));
	assert_non_null(strstr(a.command, "\"$SBX_PROMPT\""));
	assert_int_equal(a.nenv, 0);
	sbx_agent_clear(&a);
	assert_int_equal(sbx_agent_resolve(&a, NULL, "aider", NULL), 0);
	assert_non_null(strstr(a.command, "aider"));
	sbx_agent_clear(&a);
	assert_int_equal(sbx_agent_resolve(&a, cfg, "nosuch", NULL), SBX_ENOTFOUND);
	assert_non_null(strstr(sbx_error(), "no agent 'nosuch'"));
	assert_int_equal(sbx_agent_resolve(&a, cfg, "bad name;rm", NULL), SBX_EINVAL);
	assert_int_equal(sbx_agent_resolve(&a, cfg, NULL, ""), SBX_EINVAL);
	assert_int_equal(sbx_agent_resolve(&a, cfg, NULL, "make test"), 0);
	assert_string_equal(a.label, "cmd");
	assert_string_equal(a.command, "make test");
	sbx_agent_clear(&a);
}

static void test_config(void **state)
{
	struct sbx_agent a;

	(void)state;
	sh("git -C r config sbx-agent.mine.command 'my-agent --go \"$SBX_PROMPT\"' && "
	   "git -C r config --add sbx-agent.mine.env 'A=1' && git -C r config --add sbx-agent.mine.env 'B=two words' && "
	   "git -C r config sbx-agent.claude.command 'claude --custom' && git -C r config sbx.agent mine && "
	   "git -C r config sbx-agent.broken.command x && git -C r config sbx-agent.broken.env NOEQUALS");
	reload();
	assert_int_equal(sbx_agent_resolve(&a, cfg, NULL, NULL), 0);
	assert_string_equal(a.label, "mine");
	assert_string_equal(a.command, "my-agent --go \"$SBX_PROMPT\"");
	assert_int_equal(a.nenv, 2);
	assert_string_equal(a.env[0], "A=1");
	assert_string_equal(a.env[1], "B=two words");
	sbx_agent_clear(&a);
	/* git config overrides a built-in preset. */
	assert_int_equal(sbx_agent_resolve(&a, cfg, "claude", NULL), 0);
	assert_string_equal(a.command, "claude --custom");
	sbx_agent_clear(&a);
	assert_int_equal(sbx_agent_resolve(&a, cfg, "broken", NULL), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "NOEQUALS"));
}

static void test_script(void **state)
{
	struct sbx_agent a;
	char path[512];

	(void)state;
	sh("printf '#!/bin/bash\\necho hi\\n' > s1.sh && printf 'echo plain\\n' > s2.sh && "
	   "printf 'a\\000b' > bin.sh");
	snprintf(path, sizeof(path), "script:%s/s1.sh", tmp);
	assert_int_equal(sbx_agent_resolve(&a, NULL, path, NULL), 0);
	assert_string_equal(a.command, "/run/sbx/agent");
	assert_int_equal(a.script_len, 20);
	assert_memory_equal(a.script, "#!/bin/bash\necho hi\n", 20);
	assert_string_equal(a.label, path);
	sbx_agent_clear(&a);
	snprintf(path, sizeof(path), "script:%s/s2.sh", tmp);
	assert_int_equal(sbx_agent_resolve(&a, NULL, path, NULL), 0);
	assert_string_equal(a.command, "sh /run/sbx/agent");
	sbx_agent_clear(&a);
	snprintf(path, sizeof(path), "script:%s/bin.sh", tmp);
	assert_int_equal(sbx_agent_resolve(&a, NULL, path, NULL), SBX_EINVAL);
	snprintf(path, sizeof(path), "script:%s/missing.sh", tmp);
	assert_int_not_equal(sbx_agent_resolve(&a, NULL, path, NULL), 0);
	assert_int_equal(sbx_agent_resolve(&a, NULL, "script:", NULL), SBX_EINVAL);
}

static void test_entry_names(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", ".git", ".GIT", ".Git", ".git.", ".git ", ".git. .", "git~1", "GIT~1", "a/b",
	};
	static const char *const good[] = {
		"git", ".gitignore", ".gitmodules", ".git~1", "x.git", "..git", ".git-x", "...", "git~2",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!sbx_bundle_bad_entry_name(bad[i]))
			fail_msg("'%s' should be refused", bad[i]);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (sbx_bundle_bad_entry_name(good[i]))
			fail_msg("'%s' should be allowed", good[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_builtin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script, setup, teardown),
		cmocka_unit_test(test_entry_names),
	};

	sbx_lib_init();
	return cmocka_run_group_tests_name("agents", tests, NULL, NULL);
}
