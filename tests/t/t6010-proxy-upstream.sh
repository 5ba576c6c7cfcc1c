#!/bin/sh
test_description='git sbx proxy through the host'"'"'s own proxy (https_proxy, no_proxy)

A "company proxy" (tests/net/connect-proxy.py) that tunnels only the names it
maps stands between our proxy and upstreams on 127.0.0.1; our proxy must
reach allowed hosts through it with CONNECT, still refuse what the policy
refuses, and go direct for no_proxy names and sbx.resolve overrides.'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

for tool in curl openssl python3; do
	command -v $tool >/dev/null || test_skip_all "no $tool (tools/setup installs it)"
done

helper="python3 $SBX_SRC_DIR/tests/t/helper/proxy-test.py"
pids=
stop_all() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
}
trap stop_all EXIT
wait_file() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.1
	done
}
wait_log() {
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "no '$2' in $1:" >&2; cat "$1" >&2; return 1; }
		sleep 0.1
	done
}

mkdir -p www && echo "through the company proxy" >www/small.txt
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=up.test \
	-addext "subjectAltName=DNS:up.test,DNS:direct.test" \
	-keyout key.pem -out cert.pem >/dev/null 2>&1 ||
	test_skip_all "openssl cannot make a test certificate"
$helper serve-http www http.port & pids="$pids $!"
$helper serve-tls www cert.pem key.pem tls.port & pids="$pids $!"
wait_file http.port && wait_file tls.port || { echo "Bail out! upstream servers did not start"; exit 1; }
HTTP=$(cat http.port)
TLS=$(cat tls.port)
python3 "$SBX_SRC_DIR/tests/net/connect-proxy.py" --map "up.test:443=127.0.0.1:$TLS" \
	--map "up.test:80=127.0.0.1:$HTTP" --port-file company.port --log company.jsonl \
	>company.out 2>&1 &
pids="$pids $!"
wait_file company.port || { echo "Bail out! the company proxy did not start"; exit 1; }
COMPANY=$(cat company.port)

https_proxy=http://127.0.0.1:$COMPANY no_proxy=localhost,.direct.test \
	git sbx proxy --listen 127.0.0.1:0 --allow up.test --allow not-mapped.test \
	--allow direct.test:$TLS --resolve "direct.test:$TLS:127.0.0.1" \
	--allow "nodns.test:$TLS" \
	2>proxy.log &
pids="$pids $!"
wait_log proxy.log "listening on" || { echo "Bail out! the proxy did not start"; exit 1; }
PROXY=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' proxy.log)
P="-sS --max-time 30 -x http://127.0.0.1:$PROXY"

test_expect_success 'the proxy says it goes through the host'"'"'s proxy' '
	grep "through the host'"'"'s proxy 127.0.0.1:$COMPANY" proxy.log
'

test_expect_success 'HTTPS to an allowed host goes through the company proxy with CONNECT' '
	curl $P --cacert cert.pem https://up.test/small.txt >out &&
	grep "through the company proxy" out &&
	grep "\"target\": \"up.test:443\"" company.jsonl
'

test_expect_success 'plain HTTP too (a CONNECT to port 80, then the request in origin form)' '
	curl $P http://up.test/small.txt >out &&
	grep "through the company proxy" out &&
	grep "\"target\": \"up.test:80\"" company.jsonl
'

test_expect_success 'what the policy refuses never reaches the company proxy' '
	curl $P -o out -w "%{http_code}" http://refused.test/ >code;
	test "$(cat code)" = 403 &&
	! grep refused.test company.jsonl
'

test_expect_success 'a CONNECT the company proxy refuses: 502 saying so' '
	curl $P -o out -w "%{http_code}" http://not-mapped.test/ >code;
	test "$(cat code)" = 502 &&
	grep "the host'"'"'s proxy refused CONNECT not-mapped.test:80" out
'

test_expect_success 'a resolve override goes direct, not through the company proxy' '
	curl $P --cacert cert.pem https://direct.test:$TLS/small.txt >out &&
	grep "through the company proxy" out &&
	! grep "direct.test" company.jsonl
'

test_done
