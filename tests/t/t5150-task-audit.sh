#!/bin/sh
test_description='git sbx audit: the audit trail of a task (hand-written audit.jsonl), for people
and as JSON lines, hostile strings escaped, a cut last line skipped, a bad line named, -f
following a running task; git sbx show gives the counts'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task
TZ=UTC
export TZ

# no_raw_controls FILE: no C0 control but tab and newline, no DEL, no C1.
no_raw_controls() {
	test "$(LC_ALL=C tr -d '\t\n -~\200-\377' <"$1" | wc -c)" = 0 &&
	! LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$1"
}

test_expect_success 'setup: a task with an audit trail, hostile names in it' '
	git init -q repo && cd repo && git commit -q --allow-empty -m base &&
	test "$("$helper" create "audit me")" = 1 &&
	test "$("$helper" create "no audit")" = 2 &&
	a=.git/sbx/tasks/1/audit.jsonl &&
	cat >"$a" <<-\EOF &&
	{"v":1,"kind":"start","time_ms":1700000000000,"task":1,"agent":"claude","image":"default"}
	{"v":1,"kind":"conn","time_ms":1700000001000,"host":"api.anthropic.com","port":443,"method":"CONNECT","decision":"allow","rule":"api.anthropic.com","bytes_up":1234,"bytes_down":567890,"duration_ms":1500}
	{"v":1,"kind":"conn","time_ms":1700000002000,"host":"evil\u001b]52;c;cHduZWQ=\u0007\u001b[2J.example","port":80,"method":"GET","path":"/x\u009b\r\nFAKE","decision":"deny","reason":"no rule for this host"}
	{"v":1,"kind":"conn","time_ms":1700000002500,"host":"169.254.169.254","port":80,"method":"GET","path":"/latest/meta-data","decision":"deny","rule":"!metadata","reason":"a metadata address"}
	{"v":1,"kind":"exec","time_ms":1700000003000,"argv":["claude","-p","fix it"],"exit_code":0,"duration_ms":61000,"timed_out":false}
	{"v":1,"kind":"exec","time_ms":1700000003500,"argv":["sleep","9"],"exit_code":null,"duration_ms":5000,"timed_out":true}
	{"v":1,"kind":"stats","time_ms":1700000004000,"cpu_ms":1500,"mem_bytes":1073741824,"disk_bytes":5242880,"net_up":1234,"net_down":567890}
	{"v":1,"kind":"import","time_ms":1700000005000,"verdict":"accepted","commits":2,"tip":"abcdef"}
	{"v":1,"kind":"end","time_ms":1700000006000,"state":"done","exit_status":0}
	EOF
	cp "$a" ../audit.orig
'

test_expect_success 'git sbx audit: one line per record' '
	cd repo && git sbx audit 1 >out 2>err &&
	test_line_count = 9 out && test ! -s err &&
	cat >expect <<-\EOF &&
	22:13:20  start  task 1, agent claude, image default
	22:13:21  allow  api.anthropic.com:443 CONNECT  up 1.2 KiB, down 554.6 KiB, 1.5s  [rule api.anthropic.com]
	22:13:22  deny   evil^[]52;c;cHduZWQ=^G^[[2J.example:80 GET /x\u009b^M^JFAKE  no rule for this host
	22:13:22  deny   169.254.169.254:80 GET /latest/meta-data  a metadata address  [rule !metadata]
	22:13:23  exec   claude -p fix it  exit 0 after 61.0s
	22:13:23  exec   sleep 9  timed out after 5.0s
	22:13:24  stats  cpu 1.5s, memory 1.0 GiB, disk 5.0 MiB, network up 1.2 KiB, down 554.6 KiB
	22:13:25  import accepted, 2 commits, tip abcdef
	22:13:26  end    done, agent exit status 0
	EOF
	test_cmp expect out &&
	no_raw_controls out
'

test_expect_success 'git sbx audit --json: the records as JSON lines, controls escaped' '
	cd repo && git sbx audit --json 1 >out &&
	test_line_count = 9 out &&
	no_raw_controls out &&
	grep -F "\"host\":\"evil\\u001b]52;c;cHduZWQ=\\u0007\\u001b[2J.example\"" out &&
	grep -F "\"path\":\"/x\\u009b\\r\\nFAKE\"" out &&
	python3 -c "
import json
recs=[json.loads(l) for l in open(\"out\")]
orig=[json.loads(l) for l in open(\"../audit.orig\")]
assert recs==orig, (recs, orig)
assert all(r[\"v\"]==1 for r in recs)
"
'

test_expect_success 'git sbx show gives the counts; --json has them under "audit"' '
	cd repo && git sbx show 1 >out &&
	grep "^network: *allowed 1, denied 2 connections; 2 commands run$" out &&
	git sbx show --json 1 >out.json &&
	python3 -c "
import json
a=json.load(open(\"out.json\"))[\"audit\"]
assert a=={\"allowed\":1,\"denied\":2,\"bytes_up\":1234,\"bytes_down\":567890,\"commands\":2}, a
" &&
	git sbx show 2 >out && ! grep network: out &&
	git sbx show --json 2 >out.json && ! grep "\"audit\"" out.json
'

test_expect_success 'a task without an audit trail: a warning, exit 0' '
	cd repo && git sbx audit 2 >out 2>err &&
	test ! -s out &&
	grep "^warning: task 2 has no audit trail$" err
'

test_expect_success 'a cut last line is skipped with a warning' '
	cd repo && printf "{\"v\":1,\"kind\":\"co" >>.git/sbx/tasks/1/audit.jsonl &&
	git sbx audit 1 >out 2>err &&
	test_line_count = 9 out &&
	grep "^warning: audit file line 10 is cut short" err &&
	git sbx audit --json 1 >out 2>err && test_line_count = 9 out
'

test_expect_success 'a malformed line in the middle: the records before it, then an error naming it' '
	cd repo && a=.git/sbx/tasks/1/audit.jsonl &&
	{ head -2 ../audit.orig && printf "{\"v\":1,\033[2J garbage\n" && tail -1 ../audit.orig; } >"$a" &&
	test_expect_code 128 git sbx audit 1 >out 2>err &&
	test_line_count = 2 out &&
	grep "^error: cannot read the audit trail (audit file line 3 is not JSON" err &&
	no_raw_controls err &&
	git sbx show 1 >out 2>err &&
	grep "^error: cannot read the audit trail" err && ! grep network: out
'

test_expect_success 'a line past the limit is an error, not a hang or a crash' '
	cd repo && a=.git/sbx/tasks/1/audit.jsonl &&
	head -c 70000 /dev/zero | tr "\0" x >"$a" && echo >>"$a" &&
	test_expect_code 128 git sbx audit 1 2>err &&
	grep "line 1 is longer than 65536 bytes" err
'

test_expect_success 'git sbx audit -f prints records as they come and stops with the task' '
	cd repo && a=.git/sbx/tasks/1/audit.jsonl && rm -f "$a" &&
	{ "$helper" hold 1 2 & } &&
	pid=$! &&
	sleep 0.3 &&
	{ git sbx audit -f 1 >out 2>err & } &&
	fpid=$! &&
	sleep 0.5 &&
	head -2 ../audit.orig >>"$a" &&
	sleep 0.5 &&
	sed -n 3p ../audit.orig >>"$a" &&
	wait $pid &&
	wait $fpid &&
	test_line_count = 3 out &&
	grep "^22:13:22  deny   evil^\[\]52" out
'

test_expect_success 'audit -h works anywhere; audit outside a repository fails' '
	git sbx audit -h >out && grep "^usage: git sbx audit" out &&
	mkdir -p none && cd none &&
	GIT_CEILING_DIRECTORIES=$(pwd)/.. && export GIT_CEILING_DIRECTORIES &&
	test_expect_code 128 git sbx audit 1 2>err
'

test_done
