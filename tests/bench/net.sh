#!/bin/sh
# tests/bench/net.sh: the egress proxy's cost, on loopback, in one run.
#
#   tests/bench/net.sh            (from a build directory, or with SBX_BUILD_DIR)
#   MIB=500 RUNS=3 CONNS=300 tests/bench/net.sh
#
# Serves a MIB MiB file (default 500) from a Python HTTP server on
# 127.0.0.1 (sendfile, so the server is not the bottleneck) and downloads
# it with curl RUNS times (default 3) each way, in turn: directly, through
# `git sbx proxy` as plain HTTP (absolute form), and through a CONNECT
# tunnel (curl -p).  Prints each median throughput (curl's own figure) and
# the ratio proxied/direct.  Then CONNS (default 300) sequential
# connections each fetch a small file, directly and through a CONNECT
# tunnel: the mean set-up-and-fetch time of each and the difference is the
# proxy's connection set-up latency.  Never fails on absolute numbers.
set -eu
B=${SBX_BUILD_DIR:-$(pwd)}
S=${SBX_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MIB=${MIB:-500}
RUNS=${RUNS:-3}
CONNS=${CONNS:-300}
sbx=$B/git-sbx
helper="python3 $S/tests/t/helper/proxy-test.py"
test -x "$sbx" || { echo "net.sh: no git-sbx in '$B' (set SBX_BUILD_DIR)" >&2; exit 125; }
for tool in curl python3; do
	command -v $tool >/dev/null || { echo "net.sh: needs $tool (tools/setup)" >&2; exit 125; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/sbx-net-bench.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
cd "$T"
mkdir www
echo small >www/small.txt
head -c $((MIB * 1048576)) /dev/urandom >www/big.bin
$helper serve-http www http.port & pids="$pids $!"
"$sbx" proxy --listen 127.0.0.1:0 --allow "127.0.0.1:*" 2>proxy.log & pids="$pids $!"
i=0
while [ ! -s http.port ] || ! grep -q listening proxy.log; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "net.sh: servers did not start" >&2; exit 1; }
	sleep 0.1
done
HTTP=$(cat http.port)
PROXY=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' proxy.log)
URL=http://127.0.0.1:$HTTP/big.bin

fetch() {	# prints bytes/s
	curl -sS -o /dev/null -w '%{speed_download}\n' "$@" "$URL"
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

: >direct; : >http; : >tunnel
r=0
while [ $r -lt "$RUNS" ]; do
	fetch >>direct
	fetch -x "http://127.0.0.1:$PROXY" >>http
	fetch -p -x "http://127.0.0.1:$PROXY" >>tunnel
	r=$((r + 1))
done
d=$(median <direct); h=$(median <http); t=$(median <tunnel)
echo "download of $MIB MiB over loopback, median of $RUNS (curl's speed_download):"
awk -v d="$d" -v h="$h" -v t="$t" 'BEGIN {
	printf "  direct                  %8.1f MiB/s\n", d / 1048576
	printf "  via proxy, plain HTTP   %8.1f MiB/s   ratio %.2f\n", h / 1048576, h / d
	printf "  via proxy, CONNECT      %8.1f MiB/s   ratio %.2f\n", t / 1048576, t / d
}'
ld=$($helper latency "$CONNS" "$HTTP")
lp=$($helper latency "$CONNS" "$HTTP" "$PROXY")
echo "connection set-up and a small fetch, mean of $CONNS sequential connections:"
awk -v d="$ld" -v p="$lp" 'BEGIN {
	printf "  direct                  %8.3f ms\n", d
	printf "  via CONNECT tunnel      %8.3f ms   (+%.3f ms per connection)\n", p, p - d
}'
grep -c "^allow" proxy.log | sed 's/^/proxy events (allow lines): /'
