#!/usr/bin/env bash
# The main job on the demo, end to end, on a temporary copy of fixtures/demo:
# consolidate MOODLE_20_STABLE, then upgrade a fresh embedded (SQLite) site
# database with it: status, apply, status again. Nothing in the repository changes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p consolidate-cli
bin="$PWD/target/debug/consolidate"
work=$(mktemp -d "${TMPDIR:-/tmp}/consolidate-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r fixtures/demo "$work/demo"
cd "$work/demo"

echo "== consolidate release MOODLE_20_STABLE --dry-run   (the diff a release manager reviews; first 25 lines)"
"$bin" release MOODLE_20_STABLE --dry-run >"$work/release.diff"
head -25 "$work/release.diff"
echo "   ... ($(wc -l <"$work/release.diff") lines in all)"
echo "== consolidate release MOODLE_20_STABLE"
"$bin" release MOODLE_20_STABLE --allow-dirty
echo "== consolidate status --db site.db   (a fresh site: exit 2, upgrade pending)"
"$bin" status --db site.db && rc=0 || rc=$?
echo "   exit $rc"
echo "== consolidate apply --db site.db"
"$bin" apply --db site.db
echo "== consolidate status --db site.db   (exit 0, nothing to do)"
"$bin" status --db site.db
echo "   exit $?"
