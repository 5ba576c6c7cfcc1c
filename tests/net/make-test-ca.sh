#!/bin/sh
# make-test-ca.sh DIR [NAME...]: a throw-away test CA and one server certificate.
#
# Writes DIR/ca.pem, DIR/ca.key (the CA), DIR/server.pem, DIR/server.key (a
# certificate signed by that CA whose subjectAltName holds every NAME, default
# "api.anthropic.com 127.0.0.1 localhost"; a NAME that looks like an IPv4 address
# becomes an IP entry). For tests only: nothing here is secret.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [NAME...]" >&2; exit 2; }
dir=$1; shift
[ $# -ge 1 ] || set -- api.anthropic.com 127.0.0.1 localhost
mkdir -p "$dir"
san=""
for n in "$@"; do
	case $n in
	*[!0-9.]*) san="$san${san:+,}DNS:$n" ;;
	*) san="$san${san:+,}IP:$n" ;;
	esac
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=git-sbx test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=$1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
cat > "$dir/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
	-CAcreateserial -days 30 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >/dev/null
