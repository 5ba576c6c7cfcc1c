#!/bin/sh
test_description='git sbx proxy: the egress policy proxy against upstreams on 127.0.0.1'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

for tool in curl openssl python3 sha256sum; do
	command -v $tool >/dev/null || test_skip_all "no $tool (tools/setup installs it)"
done

helper="python3 $SBX_SRC_DIR/tests/t/helper/proxy-test.py"
pids=

wait_file() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "timed out waiting for $1" >&2; return 1; }
		sleep 0.1
	done
}

stop_all() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	# processes the cases started (their subshells cannot add to $pids)
	for p in $(cat "$TRASH_DIRECTORY/case.pids" 2>/dev/null); do kill "$p" 2>/dev/null; done
}
trap stop_all EXIT

# The proxy's stderr: one line per connection.  Wait for the line that ends a case.
wait_log() {
	i=0
	while ! grep -q -- "$1" proxy.log; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "no '$1' in proxy.log:" >&2; cat proxy.log >&2; return 1; }
		sleep 0.1
	done
}

# Start everything in the script's shell (not in a case's subshell) so the servers live on.
mkdir -p www/pub
echo "small file" >www/small.txt
echo "public file" >www/pub/small.txt
echo "secret file" >www/secret.txt
head -c 1048576 /dev/urandom >www/1m.bin
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test.example \
	-addext "subjectAltName=DNS:test.example,DNS:other.example" \
	-keyout key.pem -out cert.pem >/dev/null 2>&1 ||
	test_skip_all "openssl cannot make a test certificate"
$helper serve-http www http.port & pids="$pids $!"
$helper serve-tls www cert.pem key.pem tls.port & pids="$pids $!"
wait_file http.port && wait_file tls.port || { echo "Bail out! upstream servers did not start"; exit 1; }
HTTP=$(cat http.port)
TLS=$(cat tls.port)
git sbx proxy --listen 127.0.0.1:0 \
	--allow "127.0.0.1:$HTTP" \
	--allow "test.example:$TLS" --resolve "test.example:$TLS:127.0.0.1" \
	--allow "GET files.example:$HTTP/pub/*" --resolve "files.example:$HTTP:127.0.0.1" \
	--allow "localhost:$TLS" \
	2>proxy.log & pids="$pids $!"
wait_log "listening on" || { echo "Bail out! the proxy did not start"; exit 1; }
PROXY=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' proxy.log)
P="-sS --max-time 30 -x http://127.0.0.1:$PROXY"

test_expect_success 'allowed plain HTTP (absolute form) is forwarded' '
	curl $P -o out http://127.0.0.1:$HTTP/small.txt &&
	test_cmp www/small.txt out &&
	wait_log "allow GET 127.0.0.1:$HTTP /small.txt .*rule=.127.0.0.1:$HTTP. (response complete)"
'

test_expect_success 'allowed HTTPS through CONNECT (SNI matches the CONNECT host)' '
	curl $P --cacert cert.pem -o out https://test.example:$TLS/small.txt &&
	test_cmp www/small.txt out &&
	wait_log "allow CONNECT test.example:$TLS .*(tunnel closed)"
'

test_expect_success 'a tunnel to an address a rule names carries any protocol' '
	curl $P -p -o out http://127.0.0.1:$HTTP/small.txt &&
	test_cmp www/small.txt out
'

# refused CASE URL EXPECT-IN-BODY LOG-PATTERN [CURL-ARGS]: a 403 with a clear message and a deny line.
refused() {
	code=$(curl $P -o body -w "%{http_code}" "$2" $5) || true
	if [ "$code" != 403 ]; then echo "$1: HTTP $code, want 403" >&2; cat body >&2; return 1; fi
	grep -q -- "$3" body || { echo "$1: body lacks '$3':" >&2; cat body >&2; return 1; }
	wait_log "$4"
}

test_expect_success 'denied host, port, method, path, loopback, metadata and IP literals' '
	refused "host" http://evil.example/ \
		"git-sbx: evil.example:80 is not allowed by this task.s policy; allow it with --allow evil.example" \
		"deny GET evil.example:80 / " &&
	refused "port" http://127.0.0.1:1/ "--allow 127.0.0.1:1" "deny GET 127.0.0.1:1 / " &&
	refused "path" http://files.example:$HTTP/secret.txt "not allowed by rule" \
		"deny GET files.example:$HTTP /secret.txt" &&
	refused "dot segments" "http://files.example:$HTTP/pub/../secret.txt" \
		"not allowed by rule" "deny GET files.example:$HTTP /pub/../secret.txt" --path-as-is &&
	refused "loopback by name" http://localhost:$TLS/small.txt \
		"resolves to .*loopback" "deny GET localhost:$TLS /small.txt" &&
	refused "loopback literal" http://127.0.0.2:$HTTP/small.txt "not allowed" \
		"deny GET 127.0.0.2:$HTTP " &&
	refused "metadata" http://169.254.169.254/latest/meta-data/ "169.254.169.254:80 is not allowed" \
		"deny GET 169.254.169.254:80 /latest/meta-data/" &&
	refused "IP literal" http://192.0.2.1:8080/ "--allow 192.0.2.1:8080" \
		"deny GET 192.0.2.1:8080 " &&
	refused "IPv6 literal" "http://[::1]:$HTTP/" "not allowed" "deny GET \[::1\]:$HTTP "
'

test_expect_success 'denied method (the path rule is GET only)' '
	code=$(curl $P -o body -w "%{http_code}" -X POST -d x http://files.example:$HTTP/pub/small.txt) &&
	test "$code" = 403 &&
	grep "POST /pub/small.txt on files.example:$HTTP is not allowed by rule" body &&
	curl $P -o out http://files.example:$HTTP/pub/small.txt &&
	test_cmp www/pub/small.txt out
'

test_expect_success 'denied CONNECTs: host, port, a method/path rule, 127.0.0.1 and metadata' '
	test_expect_code 56 curl $P --cacert cert.pem https://evil.example/ &&
	wait_log "deny CONNECT evil.example:443 .*not allowed" &&
	test_expect_code 56 curl $P --cacert cert.pem https://test.example:1/ &&
	wait_log "deny CONNECT test.example:1 " &&
	test_expect_code 56 curl $P https://files.example:$HTTP/pub/small.txt &&
	wait_log "deny CONNECT files.example:$HTTP .*CONNECT tunnel cannot be held" &&
	test_expect_code 56 curl $P https://127.0.0.1:8443/ &&
	wait_log "deny CONNECT 127.0.0.1:8443 " &&
	test_expect_code 56 curl $P https://169.254.169.254/ &&
	wait_log "deny CONNECT 169.254.169.254:443 "
'

test_expect_success 'a TLS server name that differs from the CONNECT host is refused' '
	$helper sni $PROXY test.example $TLS other.example cert.pem >out &&
	grep "^refused: tls" out &&
	wait_log "deny CONNECT test.example:$TLS .*TLS server name .other.example. differs from the CONNECT host" &&
	$helper sni $PROXY test.example $TLS test.example cert.pem >out &&
	grep "small file" out
'

test_expect_success 'a ClientHello without a server name is refused on a name rule' '
	$helper sni $PROXY test.example $TLS - cert.pem >out &&
	grep "^refused: tls" out &&
	wait_log "deny CONNECT test.example:$TLS .*no server name (SNI)"
'

test_expect_success 'the same name spelled with curl --connect-to is refused too' '
	test_expect_code 35 curl $P --cacert cert.pem \
		--connect-to other.example:$TLS:test.example:$TLS https://other.example:$TLS/small.txt ||
	test_expect_code 56 curl $P --cacert cert.pem \
		--connect-to other.example:$TLS:test.example:$TLS https://other.example:$TLS/small.txt
'

# bad CASE STATUS: bytes on stdin to a fresh connection get STATUS, and a deny line.
bad() {
	$helper raw $PROXY >reply &&
	head -n 1 reply | grep -q "^HTTP/1.1 $2" || { echo "$1: got:" >&2; head -c 300 reply >&2; return 1; }
}

test_expect_success 'malformed requests end that connection only, with a 4xx' '
	python3 -c "import sys; sys.stdout.write(\"GET http://127.0.0.1:$HTTP/ HTTP/1.1\\r\\nX: \" + \"a\" * 100000 + \"\\r\\n\\r\\n\")" |
		bad "huge header" "431" &&
	printf "CONNECT nonsense HTTP/1.1\r\nHost: nonsense\r\n\r\n" | bad "bad CONNECT" 400 &&
	printf "CONNECT a.example:443 HTTP/1.1 extra\r\n\r\n" | bad "bad CONNECT version" 400 &&
	head -c 4096 /dev/urandom | tr -d "\n" | bad "garbage" 400 &&
	printf "\026\003\001\002\000\001\000\001\374\003\003" | bad "TLS instead of HTTP" 400 &&
	printf "GET / HTTP/1.1\r\nHost: a\r\n\r\n" | bad "origin form" 400 &&
	printf "POST http://127.0.0.1:$HTTP/ HTTP/1.1\r\nHost: 127.0.0.1:$HTTP\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n" |
		bad "smuggling" 400 &&
	printf "GET http://127.0.0.1:$HTTP/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" | bad "two hosts" 400 &&
	grep -c "bad request" proxy.log &&
	head -c 3000 /dev/urandom >garbage &&
	$helper hold $PROXY test.example $TLS cert.pem garbage >out &&
	grep "^second: HTTP/1.1 400" out &&
	grep "^first: small file" out
'

test_expect_success '100 concurrent connections (HTTP and CONNECT) all complete intact' '
	want=$(sha256sum <www/1m.bin | cut -d" " -f1) &&
	for i in $(seq 1 50); do
		echo "http://127.0.0.1:$HTTP/1m.bin"
		echo "https://test.example:$TLS/1m.bin"
	done >urls &&
	mkdir -p conc &&
	n=0 && while read -r url; do
		n=$((n + 1))
		curl $P --cacert cert.pem -o conc/$n "$url" &
	done <urls && wait &&
	ls conc | wc -l >count && echo 100 >want_count && test_cmp want_count count &&
	for f in conc/*; do
		test "$(sha256sum <$f | cut -d" " -f1)" = "$want" || { echo "$f differs" >&2; exit 1; }
	done
'

test_expect_success 'a 200 MB download through the proxy (plain HTTP and TLS) arrives intact' '
	head -c 209715200 /dev/urandom >www/200m.bin &&
	want=$(sha256sum <www/200m.bin | cut -d" " -f1) &&
	curl $P -o out200 http://127.0.0.1:$HTTP/200m.bin &&
	test "$(sha256sum <out200 | cut -d" " -f1)" = "$want" &&
	rm -f out200 &&
	curl $P --cacert cert.pem -o out200 https://test.example:$TLS/200m.bin &&
	test "$(sha256sum <out200 | cut -d" " -f1)" = "$want" &&
	wait_log "allow CONNECT test.example:$TLS up=[0-9]* down=2[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9] " &&
	rm -f www/200m.bin out200
'

test_expect_success 'over --max-conns a connection is answered 503 and closed' '
	git sbx proxy --listen 127.0.0.1:0 --max-conns 3 2>small.log & p=$! &&
	echo $p >>case.pids &&
	i=0 && while ! grep -q listening small.log; do i=$((i+1)); test $i -lt 100; sleep 0.1; done &&
	port=$(sed -n "s/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p" small.log) &&
	$helper idle $port 3 >out &&
	grep "^HTTP/1.1 503" out &&
	grep "too many connections" out &&
	kill $p
'

test_expect_success 'git sbx proxy -h documents the rule syntax; it is not in git sbx -h' '
	git sbx proxy -h >out &&
	grep "METHOD \]HOST\[:PORT\]\[/PATH\]" out &&
	grep -- "--resolve" out &&
	git sbx -h >out &&
	! grep "^   proxy" out
'

test_done
