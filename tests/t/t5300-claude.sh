#!/bin/sh
test_description='the real Claude Code CLI as the agent: its key added by the host, never in the VM

An image built with `git sbx image build --agent claude` (the CLI from the
npm registry) runs the claude preset against a scripted fake Messages API
that this test runs on 127.0.0.1 with a test CA; sbx.resolve points
api.anthropic.com:443 at it and sbx.upstreamCA trusts its CA.  The script
(tests/net/script-sentinel.json) has the CLI write hello.txt with its Write
tool, then run a shell command with its Bash tool that records the key it
was given.  The fake API checks every request for the real key.  Runs
through whichever backend the machine has (the QEMU fallback here).'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm
. "$SBX_SRC_DIR/tests/t/task-lib.sh"
for tool in openssl python3 mmdebstrap; do
	command -v $tool >/dev/null || test_skip_all "no $tool (tools/setup installs it)"
done

fake_pid=
stop_fake() { [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null; }
trap stop_fake EXIT

# The image: the minimal preset and the CLI (a few minutes: mmdebstrap, npm).
test_expect_success 'git sbx image build --agent claude' '
	git sbx image build --preset minimal --agent claude --name claude \
		--kernel-dir "$sbx_test_kdir" >image.out 2>&1 ||
		{ tail -n 30 image.out; false; }
'

REAL="sk-ant-test-$(od -An -N24 -tx1 /dev/urandom | tr -d " \n")"
test_expect_success 'a test CA, the fake Messages API on 127.0.0.1, a repository' '
	sh "$SBX_SRC_DIR/tests/net/make-test-ca.sh" ca api.anthropic.com >/dev/null 2>&1 &&
	task_repo repo
'
python3 "$SBX_SRC_DIR/tests/net/fake-anthropic.py" --cert ca/server.pem --key ca/server.key \
	--expect-key "$REAL" --script "$SBX_SRC_DIR/tests/net/script-sentinel.json" \
	--port-file api.port --log api.jsonl >fake.out 2>&1 &
fake_pid=$!
i=0
while [ ! -s api.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat api.port 2>/dev/null)

test_expect_success 'the claude agent runs, its key only on the host' '
	test -n "$PORT" &&
	git -C repo config sbx.resolve "api.anthropic.com:443:127.0.0.1:$PORT" &&
	git -C repo config sbx.upstreamCA "$TRASH_DIRECTORY/ca/ca.pem" &&
	git -C repo config --add sbx-agent.claude.env CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 &&
	git -C repo config --add sbx-agent.claude.env CLAUDE_CODE_MAX_RETRIES=2 &&
	(cd repo && ANTHROPIC_API_KEY=$REAL git sbx task --image claude --agent claude \
		--memory 2G --timeout 600s "make hello.txt" >../out 2>../err);
	status=$?
	cat out err;
	cat api.jsonl;
	test $status = 0
'

test_expect_success 'the fake API saw the real key on every request, and the three steps' '
	test -s api.jsonl &&
	! grep -v "\"key\": \"match\"" api.jsonl &&
	grep -q "\"step\": 0" api.jsonl &&
	grep -q "\"step\": 1" api.jsonl &&
	grep -q "\"step\": 2" api.jsonl
'

test_expect_success 'the branch holds what the CLI wrote and ran' '
	git -C repo show sbx/1:hello.txt >hello &&
	echo "hello from the fake Anthropic API" >expect &&
	test_cmp expect hello &&
	git -C repo show sbx/1:ran.txt >ran &&
	echo ran >expect &&
	test_cmp expect ran
'

test_expect_success 'the agent (and its shell tool) held only the sentinel' '
	git -C repo show sbx/1:key-seen.txt >seen &&
	grep -q "^sbx-sentinel-anthropic-" seen &&
	! grep -q -F "$REAL" seen
'

test_expect_success 'the real key is in none of the task files (disk image, console, log, audit)' '
	ls repo/.git/sbx/tasks/1/ &&
	test -s repo/.git/sbx/tasks/1/disk.qcow2 &&
	for f in repo/.git/sbx/tasks/1/*; do
		if grep -a -q -F "$REAL" "$f"; then echo "the real key is in $f"; false; fi || return 1
	done &&
	! git -C repo grep -q -F "$REAL" sbx/1
'

test_expect_success 'the audit shows the intercepted connections to api.anthropic.com' '
	(cd repo && git sbx audit 1) >audit &&
	cat audit &&
	grep "^.*allow  api.anthropic.com:443 CONNECT .*key added" audit
'

test_done
