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
# Trees for fuzz-bundle.c to build (first byte >= 0x80; the format is at the top of
# that file): files, a directory, symlinks in and out, .git, a gitlink, the base's
# tree, git's order and not, a mode as text, a deep path, a root commit.
printf '\200\000\005f.txt\006hello\n\004\001d\000\001x\002x\n\005' >"$out/tree-simple"
printf '\201\000\005f.txt\001a\002\004link\005f.txt\002\003dir\001d\007\003old' >"$out/tree-symlink-named"
printf '\200\002\003esc\011../../etc\004\001d\002\002up\002..\005' >"$out/tree-symlink-out"
printf '\200\004\004.git\000\006config\003[x]\005\000\001a\001a' >"$out/tree-dotgit"
printf '\200\003\003subABCDEFGHIJKLMNOPQRST' >"$out/tree-gitlink"
printf '\202\000\001b\001b\000\001a\001a' >"$out/tree-unsorted"
printf '\200\006\001m\006100664\001m\001\001x\001x' >"$out/tree-modes"
printf '\204\000\001r\001r' >"$out/tree-root-commit"
printf '\200\004\001a\004\001b\004\001c\004\001d\004\001e\004\001f\000\001z\001z\005\005\005\005\005\005' >"$out/tree-deep"
printf '\200\000\015.gitmodules\060[submodule "s"]\n\tpath = s\n\turl = --upload-pack=x\n' >"$out/tree-gitmodules"
# The same tree with each header or pack variant: an unreachable blob, the tree as the
# tip, a missing prerequisite, two refs.
for v in 210 220 240 300; do printf "\\$v"'\000\001f\001f' >"$out/tree-variant-$v"; done
# Found by the long run: a result that turns the directory d into a dangling symlink
# (the harness could not put the worktree back).
printf '\201\000\005f.txt\001a\002\004link\001fr\001d\007\003old' >"$out/tree-symlink-over-dir"
