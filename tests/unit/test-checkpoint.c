// SPDX-License-Identifier: MIT
/*
 * The checkpoint store (sbx/checkpoint.c, sbx/checkpoint-gc.c): records and
 * their refusal when damaged, atomic create and delete, the current pointer,
 * layers taken by freezing a running disk, dropping the oldest checkpoints
 * by squashing without changing what any layer reads, and gc after a
 * simulated crash (temp directories, temp files, orphan layers).  qemu-img
 * checks and compares the layers; those parts skip without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sbx/checkpoint.h"
#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "tests/unit/qcow2-test-util.h"

#define MiB (1024 * 1024)
#define SIZE (2 * MiB)
#define HEAD "0123456789abcdef0123456789abcdef01234567"

static uint8_t ref[SIZE];

static int setup(void **state)
{
	(void)state;
	tq_mkdir();
	memset(ref, 0, sizeof(ref));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tq_cleanup();
	return 0;
}

static void sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh_ok(const char *fmt, ...)
{
	char cmd[4096], out[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (tq_sh(out, sizeof(out), "cd '%s' && { %s ; } 2>&1", tq_dir, cmd))
		fail_msg("'%s' failed:\n%s", cmd, out);
}

static struct sbx_ckpt ck(unsigned id, const char *layer)
{
	struct sbx_ckpt c;

	memset(&c, 0, sizeof(c));
	c.id = id;
	c.time_ms = 1700000000000LL + id;
	c.reason = id == 1 ? SBX_CKPT_START : SBX_CKPT_COMMIT;
	memcpy(c.head, HEAD, 41);
	snprintf(c.layer, sizeof(c.layer), "%s", layer);
	c.disk_bytes = 65536ull * id;
	return c;
}

static int parse_text(const char *body)
{
	struct sbx_ckpt c;
	char buf[1024];
	size_t n;

	/* the body with a correct checksum line, so only its content is judged */
	n = (size_t)snprintf(buf, sizeof(buf), "%s", body);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "checksum %08x\n", crc32c(0, buf, n));
	return sbx_ckpt_record_parse(&c, buf, n);
}

static void test_record(void **state)
{
	struct sbx_ckpt c = ck(3, "checkpoints/layers/2.qcow2"), d;
	char *text = NULL;
	size_t len;

	(void)state;
	c.reason = SBX_CKPT_MANUAL;
	snprintf(c.memory, sizeof(c.memory), "memory");
	c.memory_bytes = 12345;
	c.parent = 2;
	c.pause_us = 777;
	assert_int_equal(sbx_ckpt_record_format(&text, &len, &c), 0);
	assert_int_equal(sbx_ckpt_record_parse(&d, text, len), 0);
	assert_memory_equal(&c, &d, sizeof(c));
	/* one flipped byte: the checksum catches it */
	text[20] ^= 1;
	assert_int_equal(sbx_ckpt_record_parse(&d, text, len), SBX_ECORRUPT);
	free(text);
	/* names that would leave the task's directory are refused when written and read */
	snprintf(c.layer, sizeof(c.layer), "../../etc/passwd");
	assert_int_equal(sbx_ckpt_record_format(&text, &len, &c), SBX_EINVAL);
#define BODY(layer, extra) "sbx-checkpoint 1\nid 3\ntime 5\nreason exit\nhead " HEAD "\n" \
	"layer " layer "\ndisk-bytes 0\n" extra
	assert_int_equal(parse_text(BODY("a/b.qcow2", "")), 0);
	assert_int_equal(parse_text(BODY("a/../b.qcow2", "")), SBX_ECORRUPT);
	assert_int_equal(parse_text(BODY("/abs.qcow2", "")), SBX_ECORRUPT);
	assert_int_equal(parse_text(BODY("a\\nb", "")), SBX_ECORRUPT);
	assert_int_equal(parse_text(BODY("a.qcow2", "memory record\n")), SBX_ECORRUPT);
	assert_int_equal(parse_text(BODY("a.qcow2", "memory checkpoints/memory/3\n")), 0);
	assert_int_equal(parse_text(BODY("a.qcow2", "memory m/../x\n")), SBX_ECORRUPT);
	assert_int_equal(parse_text(BODY("a.qcow2", "id 3\n")), SBX_ECORRUPT);	/* repeated */
	assert_int_equal(parse_text(BODY("a.qcow2", "future-key whatever\n")), 0);
	assert_int_equal(parse_text(BODY("a.qcow2", "parent 2\n")), 0);
	assert_int_equal(parse_text(BODY("a.qcow2", "parent 3\n")), SBX_ECORRUPT);	/* not earlier */
	assert_int_equal(parse_text(BODY("a.qcow2", "parent 0\n")), SBX_ECORRUPT);
	assert_int_equal(parse_text("sbx-checkpoint 1\nid 3\ntime 5\nreason exit\nlayer a\n"
				    "disk-bytes 0\n"), SBX_ECORRUPT);	/* no head */
	assert_int_equal(parse_text("sbx-checkpoint 1\nid 3\ntime 5\nreason nap\nhead " HEAD "\n"
				    "layer a\ndisk-bytes 0\n"), SBX_ECORRUPT);
	assert_int_equal(parse_text("sbx-checkpoint 1\nid 03\ntime 5\nreason exit\nhead " HEAD
				    "\nlayer a\ndisk-bytes 0\n"), SBX_ECORRUPT);
	assert_int_equal(parse_text("sbx-checkpoint 2\nid 3\n"), SBX_EUNSUPPORTED);
#undef BODY
}

static void test_store(void **state)
{
	struct sbx_ckpt c, *list = NULL;
	unsigned ids[] = { 2, 10, 1 }, id, i;
	size_t n;
	char p[512];

	(void)state;
	assert_int_equal(sbx_ckpt_list(&list, &n, tq_dir), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sbx_ckpt_next_id(&id, tq_dir), 0);
	assert_int_equal(id, 1);
	assert_int_equal(sbx_ckpt_current(&id, tq_dir), SBX_ENOTFOUND);
	for (i = 0; i < 3; i++) {
		c = ck(ids[i], "disk.qcow2");
		assert_int_equal(sbx_ckpt_create(tq_dir, &c, NULL), 0);
	}
	assert_int_equal(sbx_ckpt_create(tq_dir, &c, NULL), SBX_EEXISTS);
	/* with a memory snapshot moved in */
	sh_ok("mkdir snap && echo mem >snap/memory && echo st >snap/state");
	c = ck(11, "disk.qcow2");
	snprintf(c.memory, sizeof(c.memory), "memory");
	c.memory_bytes = 4;
	assert_int_equal(sbx_ckpt_create(tq_dir, &c, tq_path(p, sizeof(p), "snap")), 0);
	sh_ok("test ! -e snap && grep -qx mem checkpoints/11/memory/memory");
	assert_int_equal(sbx_ckpt_list(&list, &n, tq_dir), 0);
	assert_int_equal(n, 4);
	assert_int_equal(list[0].id, 1);
	assert_int_equal(list[1].id, 2);
	assert_int_equal(list[2].id, 10);
	assert_int_equal(list[3].id, 11);
	assert_string_equal(list[3].memory, "memory");
	assert_int_equal(list[1].disk_bytes, 2 * 65536);
	free(list);
	assert_int_equal(sbx_ckpt_next_id(&id, tq_dir), 0);
	assert_int_equal(id, 12);
	/* current */
	assert_int_equal(sbx_ckpt_set_current(tq_dir, 7), SBX_ENOTFOUND);
	assert_int_equal(sbx_ckpt_set_current(tq_dir, 10), 0);
	assert_int_equal(sbx_ckpt_current(&id, tq_dir), 0);
	assert_int_equal(id, 10);
	assert_int_equal(sbx_ckpt_delete(tq_dir, 10), SBX_EINVAL);
	assert_int_equal(sbx_ckpt_delete(tq_dir, 2), 0);
	assert_int_equal(sbx_ckpt_delete(tq_dir, 2), SBX_ENOTFOUND);
	assert_int_equal(sbx_ckpt_read(&c, tq_dir, 2), SBX_ENOTFOUND);
	sh_ok("test \"$(ls -A checkpoints | tr '\\n' ' ')\" = '1 10 11 current '");
	/* damaged: refused by name, and the list with it */
	sh_ok("sed -i 's/^reason start/reason exit!/' checkpoints/1/record");
	assert_int_equal(sbx_ckpt_read(&c, tq_dir, 1), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "checkpoint 1 is damaged"));
	assert_int_equal(sbx_ckpt_list(&list, &n, tq_dir), SBX_ECORRUPT);
	sh_ok("echo 10x >checkpoints/current");
	assert_int_equal(sbx_ckpt_current(&id, tq_dir), SBX_ECORRUPT);
	/* a record whose id is another directory's */
	sh_ok("cp checkpoints/10/record checkpoints/11/record");
	assert_int_equal(sbx_ckpt_read(&c, tq_dir, 11), SBX_ECORRUPT);
}

static void put(struct blockdev *bd, uint64_t off, size_t len, uint32_t tag)
{
	uint8_t *buf = malloc(len);
	struct iovec iov = { buf, len };

	tq_pattern(buf, len, off, tag);
	if (bd->ops->pwritev(bd, &iov, 1, off))
		fail_msg("write: %s", sbx_error());
	memcpy(ref + off, buf, len);
	free(buf);
}

static void save_ref(const char *name)
{
	char p[512];
	FILE *f = fopen(tq_path(p, sizeof(p), name), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(ref, 1, SIZE, f), SIZE);
	assert_int_equal(fclose(f), 0);
}

static void qemu_same(const char *img, const char *raw)
{
	if (!tq_have_qemu_img())
		return;
	sh_ok("%s check '%s' && %s compare -f qcow2 -F raw '%s' '%s'", tq_qemu_img(), img,
	      tq_qemu_img(), img, raw);
}

/* A checkpoint: freeze the disk into a new layer and record the frozen one. */
static void take(struct blockdev *bd, char *top, size_t toplen, unsigned id)
{
	struct sbx_ckpt c = ck(id, top);
	char *rel = NULL, p[512], raw[32];

	assert_int_equal(sbx_ckpt_new_layer(&rel, tq_dir), 0);
	if (bd->ops->freeze_switch(bd, tq_path(p, sizeof(p), rel), NULL))
		fail_msg("switch: %s", sbx_error());
	assert_int_equal(sbx_ckpt_create(tq_dir, &c, NULL), 0);
	snprintf(raw, sizeof(raw), "ref%u.raw", id);
	save_ref(raw);
	snprintf(top, toplen, "%s", rel);
	free(rel);
}

static void test_layers_drop_gc(void **state)
{
	struct qcow2_create_opts co = QCOW2_CREATE_OPTS_INIT;
	struct sbx_ckpt_gc_result gc;
	struct blockdev *bd = NULL;
	char p[512], top[256] = "disk.qcow2";
	const char *keep[2] = { NULL, NULL };
	unsigned i;

	(void)state;
	co.size = SIZE;
	assert_int_equal(qcow2_create(tq_path(p, sizeof(p), "disk.qcow2"), &co), 0);
	assert_int_equal(blockdev_open_qcow2(&bd, p, false), 0);
	for (i = 1; i <= 4; i++) {	/* checkpoints 1..4: disk.qcow2, layers/1..3 */
		put(bd, (uint64_t)(i - 1) * 256 * 1024, 128 * 1024, i);
		put(bd, 0, 4096, 100 + i);
		take(bd, top, sizeof(top), i);
	}
	assert_string_equal(top, "checkpoints/layers/4.qcow2");
	put(bd, MiB, 4096, 50);
	assert_int_equal(sbx_ckpt_set_current(tq_dir, 4), 0);
	keep[0] = top;

	/* A crash in every place: temp dirs of a create and a delete, temp files, orphans. */
	sh_ok("cd checkpoints && mkdir .tmp-5-4242 .del-9-4242 && echo x >.tmp-5-4242/record && "
	      "echo 3 >current.tmp.4242 && echo junk >layers/7.qcow2.tmp.4242 && "
	      "cp layers/1.qcow2 layers/6.qcow2");
	assert_int_equal(sbx_ckpt_next_id(&i, tq_dir), 0);
	assert_int_equal(i, 10);	/* never an id a cut-off create or delete had */

	assert_int_equal(sbx_ckpt_gc(&gc, tq_dir, keep), 0);
	assert_int_equal(gc.temp_removed, 3);
	assert_int_equal(gc.layers_removed, 2);		/* 6.qcow2, 7.qcow2.tmp.4242 */
	sh_ok("test \"$(ls -A checkpoints | tr '\\n' ' ')\" = '1 2 3 4 current layers '");
	sh_ok("test \"$(ls checkpoints/layers | tr '\\n' ' ')\" = '1.qcow2 2.qcow2 3.qcow2 4.qcow2 '");

	/* Drop 1 (disk.qcow2, the bottom) while the disk runs: squashed into layers/1. */
	assert_int_equal(sbx_ckpt_drop(tq_dir, 1), 0);
	/* Drop 4: its upper is the running top: the record goes, the layer stays below it. */
	assert_int_equal(sbx_ckpt_drop(tq_dir, 4), SBX_EINVAL);	/* current */
	assert_int_equal(sbx_ckpt_set_current(tq_dir, 3), 0);
	assert_int_equal(sbx_ckpt_drop(tq_dir, 4), 0);
	{
		uint8_t *buf = malloc(SIZE);
		struct iovec iov = { buf, SIZE };

		assert_int_equal(bd->ops->preadv(bd, &iov, 1, 0), 0);
		assert_memory_equal(buf, ref, SIZE);
		free(buf);
	}
	/* layers/3 has no record now, but the running top reads through it */
	assert_int_equal(sbx_ckpt_gc(&gc, tq_dir, keep), 0);
	assert_int_equal(gc.temp_removed + gc.layers_removed, 0);
	sh_ok("test \"$(ls -A checkpoints | tr '\\n' ' ')\" = '2 3 current layers '");
	assert_int_equal(blockdev_close(bd), 0);
	save_ref("ref-top.raw");

	/* Every layer is valid and reads what its checkpoint froze. */
	qemu_same("checkpoints/layers/1.qcow2", "ref2.raw");
	qemu_same("checkpoints/layers/2.qcow2", "ref3.raw");
	qemu_same("checkpoints/layers/3.qcow2", "ref4.raw");
	qemu_same("checkpoints/layers/4.qcow2", "ref-top.raw");
	if (tq_have_qemu_img())
		sh_ok("%s check disk.qcow2", tq_qemu_img());
	/* drop 1 folded disk.qcow2 into layers/1, which stands alone now */
	{
		char name[1024];

		assert_int_equal(qcow2_read_backing_name(name, sizeof(name),
							 tq_path(p, sizeof(p), "checkpoints/layers/1.qcow2")), 0);
		assert_string_equal(name, "");
		assert_int_equal(qcow2_read_backing_name(name, sizeof(name),
							 tq_path(p, sizeof(p), "checkpoints/layers/4.qcow2")), 0);
		assert_string_equal(name, "3.qcow2");
	}

	/* Nothing kept, nothing running: layers/4 (the top) and 3 (record 4 gone) are orphans. */
	assert_int_equal(sbx_ckpt_gc(&gc, tq_dir, NULL), 0);
	assert_int_equal(gc.layers_removed, 2);
	sh_ok("test \"$(ls checkpoints/layers | tr '\\n' ' ')\" = '1.qcow2 2.qcow2 '");
	/* A damaged record: temp files still go, layers stay. */
	sh_ok("cd checkpoints && echo x >current.tmp.1 && cp layers/2.qcow2 layers/9.qcow2 && "
	      "echo broken >>2/record");
	assert_int_equal(sbx_ckpt_gc(&gc, tq_dir, NULL), SBX_ECORRUPT);
	assert_non_null(strstr(sbx_error(), "checkpoint 2 is damaged"));
	assert_int_equal(gc.temp_removed, 1);
	sh_ok("test -e checkpoints/layers/9.qcow2");
}

/*
 * Memory snapshots in checkpoints/memory/ outlive their records while a
 * kept record's chain reaches them; the rest, and half-written ones, go.
 */
static void test_memory_gc(void **state)
{
	struct sbx_ckpt_gc_result gc;
	struct sbx_ckpt c = ck(3, "disk.qcow2");

	(void)state;
	sh_ok("mkdir -p checkpoints/memory/1 checkpoints/memory/2 checkpoints/memory/3 "
	      "checkpoints/memory/4 && : > disk.qcow2 && "
	      "for i in 1 2 3; do head -c 8192 /dev/urandom > checkpoints/memory/$i/memory; "
	      "echo s > checkpoints/memory/$i/state; done && "
	      "echo 'cpus 1' > checkpoints/memory/1/machine && "
	      "printf 'cpus 1\\nparent %%s\\n' \"$PWD/checkpoints/memory/1\" > checkpoints/memory/2/machine && "
	      "echo 'cpus 1' > checkpoints/memory/3/machine && echo half > checkpoints/memory/4/memory.tmp");
	/* Record 3's memory is memory/2, a diff over memory/1 (whose record was dropped). */
	snprintf(c.memory, sizeof(c.memory), "checkpoints/memory/2");
	assert_int_equal(sbx_ckpt_create(tq_dir, &c, NULL), 0);
	assert_int_equal(sbx_ckpt_gc(&gc, tq_dir, NULL), 0);
	assert_int_equal(gc.memory_removed, 2);	/* 3 (nobody's) and 4 (half written) */
	assert_true(gc.bytes_freed >= 8192);
	sh_ok("test -f checkpoints/memory/1/memory && test -f checkpoints/memory/2/memory && "
	      "! test -e checkpoints/memory/3 && ! test -e checkpoints/memory/4");
	/* Without the record nothing reaches them. */
	assert_int_equal(sbx_ckpt_delete(tq_dir, 3), 0);
	assert_int_equal(sbx_ckpt_gc(&gc, tq_dir, NULL), 0);
	assert_int_equal(gc.memory_removed, 2);
	sh_ok("! test -e checkpoints/memory/1 && ! test -e checkpoints/memory/2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layers_drop_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_gc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
