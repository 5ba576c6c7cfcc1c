// SPDX-License-Identifier: MIT
/*
 * Unit tests for the hook gate's pure parts: settings (sbx/settings.c),
 * the check results format (sbx/gate.c), host hooks installed and
 * uninstalled byte for byte (sbx/hooks.c), the pre-push rule, and the
 * task record's new state and checks line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/gate.h"
#include "sbx/hooks.h"
#include "sbx/repo.h"
#include "sbx/settings.h"
#include "sbx/task.h"
#include "util/error.h"
#include "tests/unit/git-fixture.h"

static char tmp[256], cwd0[1024];
static struct sbx_repo *repo;

static void sh(const char *cmd)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd '%s' && { %s ; } >/dev/null 2>&1", tmp, cmd);
	if (system(full))
		fail_msg("'%s' failed", cmd);
}

/* Every file under a directory with its mode and bytes, one line each. */
static char *fingerprint(const char *dir)
{
	char cmd[1024], *out = NULL, *path = sbx_path_join(tmp, "fp");
	size_t len;

	snprintf(cmd, sizeof(cmd), "cd '%s' && find . \\( -type f -o -type l \\) | sort | "
		 "while read -r f; do stat -c '%%a %%F %%n' \"$f\"; if [ -L \"$f\" ]; then readlink \"$f\"; "
		 "else sha256sum \"$f\"; fi; done > '%s'", dir, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sbx_read_file(&out, &len, path, 1 << 20), 0);
	free(path);
	return out;
}

static int setup(void **state)
{
	char *r;

	(void)state;
	assert_non_null(getcwd(cwd0, sizeof(cwd0)));
	snprintf(tmp, sizeof(tmp), "%s/sbx-test-gate.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
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
	sbx_repo_free(repo);
	repo = NULL;
	assert_int_equal(chdir(cwd0), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void read_settings(struct sbx_settings *s, int want)
{
	struct sbx_config *cfg = NULL;

	assert_int_equal(sbx_config_open(&cfg, repo), 0);
	assert_int_equal(sbx_settings_read(s, cfg), want);
	sbx_config_free(cfg);
}

static void test_settings(void **state)
{
	struct sbx_settings s;
	enum sbx_gate_mode m;

	(void)state;
	read_settings(&s, 0);
	assert_int_equal(s.gate, SBX_GATE_OFF);
	assert_false(s.gate_set);
	assert_int_equal(s.nchecks, 0);
	assert_true(s.timeout_ms == SBX_SETTINGS_DEFAULT_TIMEOUT_MS);
	assert_true(s.check_timeout_ms == SBX_SETTINGS_DEFAULT_CHECK_TIMEOUT_MS);
	assert_true(s.warm);
	assert_null(s.setup);
	assert_non_null(s.user_name);
	sbx_settings_clear(&s);

	/* Checks configured: the gate blocks by default; "" empties the list so far. */
	sh("cd r && git config --add sbx.check 'make lint' && git config --add sbx.check '' && "
	   "git config --add sbx.check 'make test' && git config --add sbx.check 'sh t.sh' && "
	   "git config sbx.checkTimeout 5m && git config sbx.setup '' && git config sbx.timeout 0 && "
	   "git config user.name 'Host User'");
	read_settings(&s, 0);
	assert_int_equal(s.nchecks, 2);
	assert_string_equal(s.checks[0], "make test");
	assert_string_equal(s.checks[1], "sh t.sh");
	assert_int_equal(s.gate, SBX_GATE_BLOCK);
	assert_true(s.check_timeout_ms == 5 * 60 * 1000);
	assert_null(s.setup);
	assert_true(s.timeout_ms == 0);
	assert_string_equal(s.user_name, "Host User");
	sbx_settings_clear(&s);

	sh("cd r && git config sbx.gate warn");
	read_settings(&s, 0);
	assert_int_equal(s.gate, SBX_GATE_WARN);
	assert_true(s.gate_set);
	sbx_settings_clear(&s);
	sh("cd r && git config sbx.gate off");
	read_settings(&s, 0);
	assert_int_equal(s.gate, SBX_GATE_OFF);
	sbx_settings_clear(&s);
	sh("cd r && git config sbx.gate sometimes");
	read_settings(&s, SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "sbx.gate"));
	sbx_settings_clear(&s);
	sh("cd r && git config sbx.gate block && git config sbx.maxLogSize lots");
	read_settings(&s, SBX_EINVAL);
	sbx_settings_clear(&s);

	assert_int_equal(sbx_gate_mode_parse(&m, "true"), 0);
	assert_int_equal(m, SBX_GATE_BLOCK);
	assert_int_equal(sbx_gate_mode_parse(&m, "no"), 0);
	assert_int_equal(m, SBX_GATE_OFF);
	assert_string_equal(sbx_gate_mode_name(SBX_GATE_WARN), "warn");
}

static void test_results(void **state)
{
	struct sbx_check_result in[] = {
		{ (char *)"pre-commit", SBX_CHECK_PASS, 812 },
		{ (char *)"make test", SBX_CHECK_FAIL, 15000 },
		{ (char *)"odd \\ name\nwith\x01 bytes", SBX_CHECK_ERROR, 0 },
	};
	static const char *const bad[] = {
		"pre-commit pass\n", "pre-commit maybe 12\n", "pre-commit pass 012\n", "pre-commit pass -1\n",
		" pass 12\n", "pass 12\n", "x pass 12", "x\\q pass 1\n", "x pass 12\0\n",
	};
	struct sbx_check_result *out = NULL;
	char *buf = NULL;
	size_t len = 0, n = 0, i;

	(void)state;
	assert_int_equal(sbx_check_results_format(&buf, &len, in, 3), 0);
	assert_string_equal(buf, "pre-commit pass 812\nmake test fail 15000\n"
			    "odd \\\\ name\\nwith\\x01 bytes error 0\n");
	assert_int_equal(sbx_check_results_parse(&out, &n, buf, len), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(out[i].name, in[i].name);
		assert_int_equal(out[i].status, in[i].status);
		assert_true(out[i].duration_ms == in[i].duration_ms);
	}
	sbx_check_results_free(out, n);
	free(buf);
	assert_int_equal(sbx_check_results_parse(&out, &n, "", 0), 0);
	assert_int_equal(n, 0);
	sbx_check_results_free(out, n);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t l = strlen(bad[i]);

		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			l = 11;	/* past the NUL byte */
		if (sbx_check_results_parse(&out, &n, bad[i], l) != SBX_ECORRUPT)
			fail_msg("'%s' should be refused", bad[i]);
	}
}

static void test_record(void **state)
{
	struct sbx_task t = { 0 }, *back = NULL;
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	t.id = 3;
	t.state = SBX_TASK_CHECKS_FAILED;
	t.branch = (char *)"sbx/3";
	t.prompt = (char *)"p";
	t.exit_status = -1;
	t.checks_run = 1;
	t.checks_status = SBX_CHECK_FAIL;
	t.checks_ms = 4321;
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_non_null(strstr(buf, "\nstate checks failed\n"));
	assert_non_null(strstr(buf, "\nchecks 1 fail 4321\n"));
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_int_equal(back->state, SBX_TASK_CHECKS_FAILED);
	assert_int_equal(back->checks_run, 1);
	assert_int_equal(back->checks_status, SBX_CHECK_FAIL);
	assert_true(back->checks_ms == 4321);
	sbx_task_free(back);
	free(buf);
	/* A record without the line (written before the gate) reads as no checks. */
	t.state = SBX_TASK_DONE;
	t.checks_run = 0;
	assert_int_equal(sbx_task_record_format(&buf, &len, &t), 0);
	assert_null(strstr(buf, "\nchecks "));
	assert_int_equal(sbx_task_record_parse(&back, buf, len), 0);
	assert_int_equal(back->checks_run, 0);
	sbx_task_free(back);
	free(buf);
}

static void install_uninstall(const char *hooks_rel)
{
	char *dir = sbx_path_join(tmp, hooks_rel), *backup = sbx_path_join(tmp, "r/.git/sbx/hooks-backup");
	char *r = sbx_path_join(tmp, "r"), *before = fingerprint(r), *after, *p, *buf = NULL;
	struct sbx_hooks_state st;
	unsigned kept = 9;
	size_t len;

	assert_int_equal(sbx_hooks_install_at(dir, backup), 0);
	assert_int_equal(sbx_hooks_install_at(dir, backup), SBX_EEXISTS);
	assert_int_equal(sbx_hooks_status_at(&st, dir, backup), 0);
	assert_true(st.installed && st.ours[0] && st.ours[1]);
	sbx_hooks_state_clear(&st);
	p = sbx_path_join(dir, "pre-commit");
	assert_int_equal(sbx_read_file(&buf, &len, p, 1 << 20), 0);
	assert_true(sbx_hooks_is_ours(buf, len));
	assert_string_equal(buf, sbx_hook_templates[0]);
	free(buf);
	free(p);
	assert_int_equal(sbx_hooks_uninstall_at(&kept, dir, backup), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(sbx_hooks_uninstall_at(&kept, dir, backup), SBX_ENOTFOUND);
	after = fingerprint(r);
	assert_string_equal(before, after);
	free(r);
	free(before);
	free(after);
	free(dir);
	free(backup);
}

static void test_hooks_exact(void **state)
{
	(void)state;
	/* Nothing there before (git's samples only). */
	install_uninstall("r/.git/hooks");
	/* A hook of the user's (odd mode, no newline at the end), and a symlink. */
	sh("printf '#!/bin/sh\\necho mine' > r/.git/hooks/pre-commit && chmod 750 r/.git/hooks/pre-commit && "
	   "printf '#!/bin/sh\\nexit 0\\n' > r/elsewhere && chmod 755 r/elsewhere && "
	   "ln -s ../../elsewhere r/.git/hooks/pre-push");
	install_uninstall("r/.git/hooks");
	/* A hooks directory that did not exist: made, then removed. */
	install_uninstall("r/.githooks");
	{
		struct stat st;
		char *p = sbx_path_join(tmp, "r/.githooks");

		assert_int_equal(stat(p, &st), -1);
		free(p);
	}
}

static void test_hooks_chain_and_replaced(void **state)
{
	char *dir = sbx_path_join(tmp, "r/.git/hooks"), *backup = sbx_path_join(tmp, "r/.git/sbx/hooks-backup");
	char *hook = NULL, *p, *buf = NULL;
	unsigned kept = 0;
	size_t len;

	(void)state;
	sh("printf '#!/bin/sh\\necho mine\\n' > r/.git/hooks/pre-commit && chmod 755 r/.git/hooks/pre-commit");
	assert_int_equal(sbx_hooks_user_hook(&hook, repo, "pre-commit"), 0);
	assert_non_null(strstr(hook, "/.git/hooks/pre-commit"));
	free(hook);
	assert_int_equal(sbx_hooks_install_at(dir, backup), 0);
	/* Behind ours, the user's hook is the chained copy, byte for byte. */
	assert_int_equal(sbx_hooks_user_hook(&hook, repo, "pre-commit"), 0);
	assert_non_null(strstr(hook, "/pre-commit.sbx-chain"));
	assert_int_equal(sbx_read_file(&buf, &len, hook, 1 << 20), 0);
	assert_string_equal(buf, "#!/bin/sh\necho mine\n");
	free(buf);
	free(hook);
	assert_int_equal(sbx_hooks_user_hook(&hook, repo, "pre-push"), 0);
	assert_null(hook);
	/* A hook the user replaced after install is left alone. */
	sh("printf '#!/bin/sh\\necho newer\\n' > r/.git/hooks/pre-push && chmod 755 r/.git/hooks/pre-push");
	assert_int_equal(sbx_hooks_uninstall_at(&kept, dir, backup), 0);
	assert_int_equal(kept, 1);
	p = sbx_path_join(dir, "pre-push");
	assert_int_equal(sbx_read_file(&buf, &len, p, 1 << 20), 0);
	assert_string_equal(buf, "#!/bin/sh\necho newer\n");
	free(buf);
	free(p);
	p = sbx_path_join(dir, "pre-commit");
	assert_int_equal(sbx_read_file(&buf, &len, p, 1 << 20), 0);
	assert_string_equal(buf, "#!/bin/sh\necho mine\n");
	free(buf);
	free(p);
	free(dir);
	free(backup);
}

static void test_hooks_dir(void **state)
{
	char *dir = NULL;

	(void)state;
	assert_int_equal(sbx_hooks_dir(&dir, repo), 0);
	assert_non_null(strstr(dir, "/r/.git/hooks"));
	free(dir);
	sh("cd r && git config core.hooksPath .husky/_/");
	sbx_repo_free(repo);
	assert_int_equal(sbx_repo_open(&repo), 0);
	assert_int_equal(sbx_hooks_dir(&dir, repo), 0);
	assert_non_null(strstr(dir, "/r/.husky/_"));
	assert_int_equal(dir[strlen(dir) - 1], '_');
	free(dir);
	sh("cd r && git config core.hooksPath /abs//hooks");
	sbx_repo_free(repo);
	assert_int_equal(sbx_repo_open(&repo), 0);
	assert_int_equal(sbx_hooks_dir(&dir, repo), 0);
	assert_string_equal(dir, "/abs/hooks");
	free(dir);
}

static void msg_count(void *opaque, const char *line)
{
	(void)line;
	(*(int *)opaque)++;
}

static void test_push_rule(void **state)
{
	static const char z[] = "0000000000000000000000000000000000000000";
	static const char a[] = "1111111111111111111111111111111111111111";
	char input[1024];
	unsigned refused = 0;
	int msgs = 0;
	char *st = NULL;

	(void)state;
	sh("mkdir -p r/.git/sbx/tasks/1 r/.git/sbx/tasks/2 && "
	   "printf 'sbx-task-record 1\\nid 1\\nstate accepted\\n' > r/.git/sbx/tasks/1/record && "
	   "printf 'sbx-task-record 1\\nid 2\\nstate checks failed\\n' > r/.git/sbx/tasks/2/record");
	assert_int_equal(sbx_hooks_task_state(&st, repo, 2), 0);
	assert_string_equal(st, "checks failed");
	free(st);
	assert_int_equal(sbx_hooks_task_state(&st, repo, 9), 0);
	assert_null(st);
	snprintf(input, sizeof(input),
		 "refs/heads/sbx/1 %s refs/heads/sbx/1 %s\n"	/* accepted */
		 "refs/heads/sbx/2 %s refs/heads/x %s\n"	/* checks failed */
		 "refs/heads/sbx/9 %s refs/heads/sbx/9 %s\n"	/* no task */
		 "refs/heads/sbx/2 %s refs/heads/sbx/2 %s\n"	/* a deletion */
		 "refs/heads/sbx/feature %s refs/heads/f %s\n"	/* not a task's */
		 "refs/heads/main %s refs/heads/main %s\n",
		 a, z, a, z, a, z, z, a, a, z, a, z);
	assert_int_equal(sbx_hooks_check_push(&refused, repo, input, strlen(input), msg_count, &msgs), 0);
	assert_int_equal(refused, 2);
	assert_int_equal(msgs, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_record),
		cmocka_unit_test_setup_teardown(test_hooks_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hooks_chain_and_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hooks_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_rule, setup, teardown),
	};

	sbx_lib_init();
	return cmocka_run_group_tests_name("gate", tests, NULL, NULL);
}
