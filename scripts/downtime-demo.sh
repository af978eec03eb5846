#!/usr/bin/env bash
# What an operator sees during a low-downtime upgrade, on a temporary copy of
# fixtures/downtime and a fresh SQLite site database: status, the pre steps
# online, the staged main phase (whole-site maintenance for core and for
# mod_assign, which is not safe to disable; then one component at a time),
# the 100,000-row post step in batches while the site is online, `done`, and
# the final status. At each moment it prints which components are online, as
# the application reads it from upgrade_maintenance; a watcher keeps printing
# changes while `apply` runs. Nothing in the repository changes.
#
# Commands a build does not have yet are skipped with a note.
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p consolidate-cli || exit 1
bin="$PWD/target/debug/consolidate"
work=$(mktemp -d "${TMPDIR:-/tmp}/consolidate-downtime.XXXXXX")
watcher=""
cleanup() {
  if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
cp -r fixtures/downtime "$work/tree"
cd "$work/tree" || exit 1
db="$work/site.db"
backfill="core/2008040300-event_log_format"

# The components of the tree, for the "who is online" lines.
components=$("$bin" list --json | python3 -c '
import json, sys
seen = []
for s in json.load(sys.stdin)["steps"]:
    if s["component"] not in seen:
        seen.append(s["component"])
print(",".join(seen))')

# One line: which components are online, read the way the application reads
# it (one row per scope not online; `*` is the whole site).
online_py='
import sqlite3, sys, time
db, comps = sys.argv[1], sys.argv[2].split(",")
def state():
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        rows = c.execute("SELECT scope, state FROM upgrade_maintenance ORDER BY scope").fetchall()
        c.close()
    except sqlite3.Error:
        return "no site database yet: nothing installed"
    scopes = dict(rows)
    if "*" in scopes:
        return "whole site in %s (*): no component online" % scopes["*"]
    down = [c for c in comps if c in scopes]
    up = [c for c in comps if c not in scopes]
    text = "online: " + (", ".join(up) or "none")
    if down:
        text += " | in maintenance: " + ", ".join("%s (%s)" % (c, scopes[c]) for c in down)
    return text
if len(sys.argv) > 3:
    last, stop = None, sys.argv[3]
    while True:
        now = state()
        if now != last:
            print("    [watch] " + now, flush=True)
            if last is None:
                open(stop + ".ready", "w").close()
            last = now
        try:
            open(stop).close()
            break
        except OSError:
            time.sleep(0.01)
else:
    print("  => " + state())
'
online() { python3 -c "$online_py" "$db" "$components"; }
watch_start() {
  rm -f "$work/stop" "$work/stop.ready"
  python3 -c "$online_py" "$db" "$components" "$work/stop" &
  watcher=$!
  for _ in $(seq 100); do [ -e "$work/stop.ready" ] && break; sleep 0.02; done
}
watch_stop() {
  sleep 0.1
  touch "$work/stop"
  wait "$watcher" 2>/dev/null
  watcher=""
}
has() { "$bin" "$@" --help >/dev/null 2>&1; }
run() {
  echo
  echo "\$ consolidate $* --db site.db"
  if ! has "$1" || { [ "$1" = post ] && ! has post "$2"; }; then
    echo "  (not in this build: skipped)"
    return 0
  fi
  "$bin" "$@" --db "$db"
  rc=$?
  echo "  exit $rc"
}

echo "== 1. A fresh site: what kind of downtime does the upgrade need? (0 none, 2 maintenance, 3 online work only)"
run status
online

echo
echo "== 2. Pre steps, while the old code runs: nothing goes offline"
watch_start
run apply --phase pre
watch_stop
online
run status
run maintenance --json

echo
echo "== 3. The main phase, staged: core and mod_assign (not safe to disable) under whole-site"
echo "      maintenance, then each safe-to-disable plugin under its own"
watch_start
run apply
watch_stop
online
echo
echo "What each step saw in upgrade_maintenance while it ran:"
python3 -c '
import sqlite3, sys
for step, scope in sqlite3.connect(sys.argv[1]).execute("SELECT step, scope FROM seen"):
    print("  %-22s %s" % (step, scope))' "$db"
run maintenance --json --events 10
run status

echo
echo "== 4. The 100,000-row backfill in batches, online, a second at a time (as cron would run it)"
if has post run; then
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    run post run --max-seconds 1 --pause-ms 20
    run post status
    run "done" "$backfill"
    [ "$rc" -eq 0 ] && break
  done
else
  run post run --max-seconds 1 --pause-ms 20
fi
online

echo
echo "== 5. Finished: nothing pending"
run "done" "$backfill"
run status
online
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print("  event_log rows backfilled: %d of %d" % c.execute("SELECT sum(format), count(*) FROM event_log").fetchone())' "$db"
