#!/bin/sh
# claude-on-host.sh: drive the real Claude Code CLI, on the host, against the scripted
# fake Messages API (fake-anthropic.py), offline, and check that it used its tools.
#
#   tests/net/claude-on-host.sh [--mode direct|proxy] [--ca node|ssl|none]
#                               [--uid N] [--keep DIR] [--ca-dir DIR] [-- EXTRA_ENV=VALUE ...]
#
# --mode direct: ANTHROPIC_BASE_URL=https://127.0.0.1:PORT (the fake, with a certificate
#                for 127.0.0.1 from the test CA).
# --mode proxy:  (default) the CLI talks to https://api.anthropic.com through
#                HTTPS_PROXY=http://127.0.0.1:PROXYPORT; connect-proxy.py sends
#                CONNECT api.anthropic.com:443 to the fake and refuses everything else.
#                This is how the CLI runs in a git-sbx VM (sbx-init's proxy on 3128).
# --ca node|ssl|none: trust the test CA through NODE_EXTRA_CA_CERTS (default),
#                SSL_CERT_FILE, or not at all (the run must then fail).
# --ca-dir DIR:  use the CA and server certificate in DIR (from make-test-ca.sh) instead
#                of making new ones.
# --uid N:       run the CLI as uid/gid N (needs root; default 1000 when root, as the
#                agent runs in the VM). --uid 0 runs as root, which needs IS_SANDBOX=1.
# FAKE_ARGS:     more options for fake-anthropic.py (e.g. "--other 403").
# CLAUDE_TIMEOUT: seconds before the CLI is killed (default 120; a CLI that cannot reach
#                the API retries for minutes rather than failing fast).
# EXTRA_ENV:     more variables for the CLI's environment (e.g. CI=1).
#
# The CLI: $CLAUDE, else `claude` on PATH, else /tmp/claude-cli/node_modules/.bin/claude
# (npm install --prefix /tmp/claude-cli @anthropic-ai/claude-code@2.1.197).
# Exits 0 when every check passed, 1 when one failed, 77 (skip) when there is no CLI.
set -u
here=$(cd "$(dirname "$0")" && pwd)
mode=proxy ca=node uid='' keep='' cadir=''
while [ $# -gt 0 ]; do
	case $1 in
	--mode) mode=$2; shift 2 ;;
	--ca) ca=$2; shift 2 ;;
	--uid) uid=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--ca-dir) cadir=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: see $0" >&2; exit 2 ;;
	esac
done

claude=${CLAUDE:-$(command -v claude 2>/dev/null || echo /tmp/claude-cli/node_modules/.bin/claude)}
if ! [ -x "$claude" ]; then
	echo "1..0 # SKIP no Claude Code CLI (set CLAUDE= or npm install --prefix /tmp/claude-cli @anthropic-ai/claude-code@2.1.197)"
	exit 77
fi

if [ -n "$keep" ]; then
	dir=$keep; rm -rf "$dir"; mkdir -p "$dir"
else
	dir=$(mktemp -d /tmp/claude-on-host.XXXXXX)
fi
chmod 755 "$dir"	# the CLI may run as another uid: it reads ca/ca.pem
pids=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	[ -n "$keep" ] || rm -rf "$dir"
}
trap cleanup EXIT INT TERM

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else nok "$desc"; fi; }

wait_file() {
	i=0
	while ! [ -s "$1" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "# timed out waiting for $1" >&2; return 1; }
		sleep 0.1
	done
}

if [ -n "$cadir" ]; then
	cp -r "$cadir" "$dir/ca"
else
	"$here/make-test-ca.sh" "$dir/ca" api.anthropic.com 127.0.0.1 localhost || exit 1
fi
# The key the "host" holds; shaped like git-sbx's guest sentinel, which is all the CLI sees.
key=sbx-sentinel-anthropic-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# shellcheck disable=SC2086 # FAKE_ARGS is a list of options
python3 "$here/fake-anthropic.py" --cert "$dir/ca/server.pem" --key "$dir/ca/server.key" \
	--expect-key "$key" --port-file "$dir/api.port" --log "$dir/api.jsonl" \
	--dump-dir "$dir/dump" ${FAKE_ARGS:-} >"$dir/api.out" 2>&1 &
pids="$pids $!"
wait_file "$dir/api.port" || exit 1
apiport=$(cat "$dir/api.port")

mkdir -p "$dir/home" "$dir/repo"
git -C "$dir/repo" init -q
git -C "$dir/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m init

set -- PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir/home" LANG=C.UTF-8 \
	ANTHROPIC_API_KEY="$key" "$@"
case $mode in
direct)
	set -- "$@" ANTHROPIC_BASE_URL="https://127.0.0.1:$apiport" ;;
proxy)
	python3 "$here/connect-proxy.py" --map "api.anthropic.com:443=127.0.0.1:$apiport" \
		--port-file "$dir/proxy.port" --log "$dir/proxy.jsonl" >"$dir/proxy.out" 2>&1 &
	pids="$pids $!"
	wait_file "$dir/proxy.port" || exit 1
	pp=$(cat "$dir/proxy.port")
	set -- "$@" HTTPS_PROXY="http://127.0.0.1:$pp" https_proxy="http://127.0.0.1:$pp" \
		HTTP_PROXY="http://127.0.0.1:$pp" http_proxy="http://127.0.0.1:$pp" \
		NO_PROXY=localhost,127.0.0.1 no_proxy=localhost,127.0.0.1 ;;
*) echo "bad --mode $mode" >&2; exit 2 ;;
esac
case $ca in
node) set -- "$@" NODE_EXTRA_CA_CERTS="$dir/ca/ca.pem" ;;
ssl) set -- "$@" SSL_CERT_FILE="$dir/ca/ca.pem" ;;
none) ;;
*) echo "bad --ca $ca" >&2; exit 2 ;;
esac

as=
if [ "$(id -u)" = 0 ]; then
	uid=${uid:-1000}
	if [ "$uid" = 0 ]; then
		set -- "$@" IS_SANDBOX=1
	else
		chown -R "$uid:$uid" "$dir/home" "$dir/repo"
		as="setpriv --reuid=$uid --regid=$uid --clear-groups"
	fi
fi

echo "# claude $("$claude" --version 2>/dev/null), mode $mode, ca $ca, uid ${uid:-$(id -u)}"
start=$(date +%s.%N)
# shellcheck disable=SC2086 # $as is a command prefix or nothing
(cd "$dir/repo" && env -i "$@" timeout "${CLAUDE_TIMEOUT:-120}" $as "$claude" -p --dangerously-skip-permissions \
	"make hello.txt") >"$dir/claude.out" 2>"$dir/claude.err"
rc=$?
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)
sed 's/^/# stdout: /' "$dir/claude.out"
sed 's/^/# stderr: /' "$dir/claude.err" | head -20

if [ "$ca" = none ]; then
	check "without the test CA the CLI fails (exit $rc, ${secs}s)" [ "$rc" != 0 ]
	check "and never gets a Messages call through" \
		sh -c "! grep -q '\"path\": \"/v1/messages' '$dir/api.jsonl' 2>/dev/null"
	exit $failed
fi

check "claude exits 0 (took ${secs}s)" [ "$rc" = 0 ]
check "hello.txt written by the Write tool" \
	grep -qx "hello from the fake Anthropic API" "$dir/repo/hello.txt"
check "ran.txt written by the Bash tool" grep -qx ran "$dir/repo/ran.txt"
check "final text printed" grep -q "Done: wrote hello.txt" "$dir/claude.out"

if python3 - "$dir/api.jsonl" "$dir/proxy.jsonl" <<'EOF'
import json, os, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
print("# %d requests to the fake API:" % len(reqs))
for r in reqs:
    print("#   %-4s %-60s key=%-7s %s %s %s" % (r["method"], r["path"][:60], r["key"],
          r["status"], r.get("kind") or "", r.get("model") or ""))
msgs = [r for r in reqs if r["path"].startswith("/v1/messages")]
bad = [r for r in msgs if r["key"] != "match"]
steps = sorted(r["step"] for r in msgs if r.get("kind") == "main")
errs = [t for r in msgs for t in r.get("tool_results", []) if t["is_error"]]
keyless = sorted({r["path"].split("?")[0] for r in reqs if r["key"] == "missing"})
wrong = [r for r in reqs if r["key"] == "mismatch"]
print("# requests without x-api-key: %s" % (", ".join(keyless) or "none"))
if os.path.exists(sys.argv[2]):
    px = [json.loads(l) for l in open(sys.argv[2])]
    hosts = {}
    for p in px:
        hosts.setdefault((p["target"], p["decision"]), 0)
        hosts[(p["target"], p["decision"])] += 1
    print("# proxy: %s" % ", ".join("%s %s x%d" % (t, d, c) for (t, d), c in sorted(hosts.items())))
fail = 0
def chk(c, d):
    global fail
    print("#   " + ("yes" if c else "FAILED") + ": " + d)
    fail |= not c
chk(msgs and not bad, "every /v1/messages request carried the expected x-api-key (%d)" % len(msgs))
chk(not wrong, "no request carried a wrong key")
chk(steps[:1] == [0] and 2 in steps, "script steps seen: %s" % steps)
chk(not errs, "no tool_result is an error %s" % errs)
sys.exit(fail)
EOF
then ok "fake API log checks"; else nok "fake API log checks"; fi

if [ -f "$dir/repo/key-seen.txt" ]; then	# script-sentinel.json: what the shell tool saw
	check "the shell tool saw ANTHROPIC_API_KEY as given" grep -qxF "$key" "$dir/repo/key-seen.txt"
fi
check "the key is nowhere under \$HOME or the repo" \
	sh -c "! grep -rqF --exclude=key-seen.txt -e '$key' -e '$(echo "$key" | tail -c 21)' \
		'$dir/home' '$dir/repo'"
echo "# files under \$HOME: $(cd "$dir/home" && find . -type f | sed 's/[0-9a-f-]\{20,\}/<id>/g' | sort | tr '\n' ' ')"
echo "1..$n"
exit $failed
