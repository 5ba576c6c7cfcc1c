// SPDX-License-Identifier: MIT
/*
 * Snapshot and checkpoint directories (sbx/machine-snap.c): a checkpoint's
 * `machine` names its parent and its frozen layers and reads back; restore
 * walks the parents down to the full memory file; the temporary files are
 * renamed on commit and removed on abort; damaged `layer` lines are refused.
 */
#include "sbx/machine.h"
#include "util/error.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[PATH_MAX];

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/sbx-snapdir.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static char *path(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	return buf;
}

static bool exists(const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	return stat(path(p, name), &st) == 0;
}

static void write_file(const char *name, const char *text)
{
	char p[PATH_MAX];
	FILE *f = fopen(path(p, name), "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A saved snapshot in dir/<name>: prepare, write, commit as a checkpoint. */
static void checkpoint(const char *name, const char *parent, char **layers)
{
	struct sbx_machine m = SBX_MACHINE_INIT;
	char p[PATH_MAX];
	int mem, st;

	m.cpus = 2;
	m.memory = 256ULL << 20;
	m.console_port = "sbx.ckpt";
	assert_int_equal(sbx_snapdir_prepare(path(p, name), &mem, &st), 0);
	assert_int_equal(write(mem, "m", 1), 1);
	assert_int_equal(write(st, "s", 1), 1);
	close(mem);
	close(st);
	assert_int_equal(sbx_snapdir_commit_checkpoint(p, &m, parent, layers,
						       SBX_MACHINE_MAX_DISKS), 0);
}

static void test_chain_and_layers(void **state)
{
	char *layers[SBX_MACHINE_MAX_DISKS] = { NULL }, *got[SBX_MACHINE_MAX_DISKS];
	char *st = NULL, *mem[16], p[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX], want[PATH_MAX];
	struct sbx_machine m = SBX_MACHINE_INIT;
	char *owned = NULL;
	unsigned n, i;

	(void)state;
	layers[1] = "/layers/base.qcow2";
	checkpoint("1", NULL, layers);
	layers[1] = "/layers/1 with space.qcow2";
	layers[3] = "/other/disk.qcow2";
	checkpoint("2", path(p1, "1"), layers);
	layers[3] = NULL;
	checkpoint("3", path(p2, "2"), layers);
	assert_false(exists("3/.memory.tmp") || exists("3/.state.tmp"));
	assert_true(exists("3/memory") && exists("3/state") && exists("3/machine"));

	assert_int_equal(sbx_snapdir_layers(path(p, "2"), got, SBX_MACHINE_MAX_DISKS), 0);
	assert_null(got[0]);
	assert_string_equal(got[1], "/layers/1 with space.qcow2");
	assert_null(got[2]);
	assert_string_equal(got[3], "/other/disk.qcow2");
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++)
		free(got[i]);
	/* the parents walked down to the full one, listed upward */
	assert_int_equal(sbx_snapdir_paths(path(p, "3"), &st, mem, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(mem[0], path(want, "1/memory"));
	assert_string_equal(mem[1], path(want, "2/memory"));
	assert_string_equal(mem[2], path(want, "3/memory"));
	assert_string_equal(st, path(want, "3/state"));
	for (i = 0; i < n; i++)
		free(mem[i]);
	free(st);
	/* the machine reads back, layer lines and all */
	assert_int_equal(sbx_snapdir_read_machine(path(p, "3"), &m, &owned), 0);
	assert_int_equal(m.cpus, 2);
	assert_int_equal(m.memory, 256ULL << 20);
	assert_string_equal(m.console_port, "sbx.ckpt");
	free(owned);
	/* a full checkpoint names no parent */
	assert_int_equal(sbx_snapdir_paths(path(p, "1"), &st, mem, &n), 0);
	assert_int_equal(n, 1);
	free(mem[0]);
	free(st);
}

static void test_bad_layer_lines(void **state)
{
	char *got[SBX_MACHINE_MAX_DISKS], p[PATH_MAX];
	static const char *const bad[] = {
		"cpus 1\nlayer x /a\n",
		"cpus 1\nlayer 8 /a\n",			/* past the last slot */
		"cpus 1\nlayer 1\n",
		"cpus 1\nlayer 1 \n",
		"cpus 1\nlayer 1 /a\nlayer 1 /b\n",	/* a slot twice */
	};
	unsigned i;

	(void)state;
	assert_int_equal(mkdir(path(p, "b"), 0700), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file("b/machine", bad[i]);
		assert_int_equal(sbx_snapdir_layers(path(p, "b"), got, SBX_MACHINE_MAX_DISKS),
				 SBX_ECORRUPT);
		assert_null(got[1]);
	}
	write_file("b/machine", "cpus 1\nmemory 1\n");
	assert_int_equal(sbx_snapdir_layers(p, got, SBX_MACHINE_MAX_DISKS), 0);
	for (i = 0; i < SBX_MACHINE_MAX_DISKS; i++)
		assert_null(got[i]);
	assert_int_not_equal(sbx_snapdir_layers(path(p, "none"), got, SBX_MACHINE_MAX_DISKS), 0);
	/* a newline in a layer's path cannot be written */
	{
		struct sbx_machine m = SBX_MACHINE_INIT;
		char *layers[SBX_MACHINE_MAX_DISKS] = { "/a\nparent /x" };

		assert_int_equal(sbx_snapdir_commit_checkpoint(path(p, "b"), &m, NULL, layers,
							       SBX_MACHINE_MAX_DISKS), SBX_EINVAL);
	}
}

static void test_abort(void **state)
{
	char p[PATH_MAX];
	int mem, st;

	(void)state;
	assert_int_equal(sbx_snapdir_prepare(path(p, "x"), &mem, &st), 0);
	close(mem);
	close(st);
	assert_true(exists("x/.memory.tmp") && exists("x/.state.tmp"));
	sbx_snapdir_abort(p);
	assert_false(exists("x/.memory.tmp") || exists("x/.state.tmp") || exists("x/machine"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_and_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layer_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
