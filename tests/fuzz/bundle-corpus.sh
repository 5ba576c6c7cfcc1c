#!/bin/sh
# Regenerate the seed corpus of tests/fuzz/fuzz-bundle.c: result bundles made
# by the git CLI against the repository the fuzzer makes (same recipe as
# FUZZ_REPO_RECIPE there), plus hand-made headers.  Each seed starts with the
# byte that picks the write size.  Usage: bundle-corpus.sh OUTDIR
set -e
out=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=F GIT_AUTHOR_EMAIL=f@example.com \
	GIT_COMMITTER_NAME=F GIT_COMMITTER_EMAIL=f@example.com
git init -q -b main repo && cd repo && git config user.name F &&
git config user.email f@example.com && echo base >f.txt && mkdir d && echo x >d/x &&
git add -A && GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000' \
git commit -qm base && git branch sbx/1
cd .. && git clone -q repo guest && cd guest
export GIT_AUTHOR_DATE='1700000100 +0000' GIT_COMMITTER_DATE='1700000100 +0000'
seed() { { printf "$1"; cat "$2"; } >"$out/$3"; }
echo more >>f.txt && echo new >n.txt && git add -A && git commit -qm one
git bundle create -q ../one.bundle origin/main..HEAD
git rm -q d/x && git mv n.txt m.txt && git commit -qm two
git bundle create -q ../two.bundle origin/main..HEAD
git bundle create -q --version=3 ../v3.bundle origin/main..HEAD
git checkout -q -b sbx/1 && git bundle create -q ../named.bundle origin/main..sbx/1
seed '\000' ../one.bundle one-whole
seed '\007' ../one.bundle one-by-7
seed '\000' ../two.bundle two-whole
seed '\001' ../v3.bundle v3-by-2
seed '\074' ../named.bundle named-by-61
printf '\000# v2 git bundle\n-%s a subject\n%s HEAD\n\n' "$(git rev-parse origin/main)" "$(git rev-parse origin/main)" >"$out/header-only"
printf '\003# v3 git bundle\n@object-format=sha1\n@filter=blob:none\n' >"$out/v3-filter"
