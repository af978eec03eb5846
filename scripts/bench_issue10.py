#!/usr/bin/env python3
"""Scale benchmark (issue 10): every row of the issue's table against its
floor, measured side by side in one run, printed as ratios.

Usage: python3 scripts/bench_issue10.py [--wide 1000] [--small 100]
       [--steps 100] [--one 10000,20000] [--apply-steps 10000]
       [--bigstep-mb 50] [--verify-steps 1400] [--verify-releases 4]
       [--runs 3] [--peers-bin DIR] [--pg-url URL | --no-pg]
       [--disk-dir DIR] [--only PARTS] [--verbose] [--no-build]

Trees (generated under a temporary folder, databases on /dev/shm when it
exists): WIDE components x STEPS standalone steps (default 1,000 x 100 =
100,000 steps), SMALL x STEPS (100 x 100), one component whose
db/upgrade.toml holds each of ONE released entries. Times are the best of
RUNS runs of the release binary (whole process); floors are `cat` of the
same files, `rm`, a names-only diff in Python (directory names against the
ledger table) and the `sqlite3` CLI. The 50 MB step row calls
scripts/bench_bigstep.py when it exists.

Parts (--only, comma-separated; all by default):
  lists    list / check of one component's released entries
  wide     plan, status, release, prune on the wide tree; with sqlx
           installed, `status` against `sqlx migrate info` (same steps, all
           applied)
  apply    apply of APPLY_STEPS insert steps on tmpfs against the sqlite3 CLI
  peers    the same apply against `sqlx migrate run` and `refinery migrate`
           on identical SQL (one migration per step file, a transaction
           each), with the journal mode and sync setting of each
  pg       PostgreSQL: apply against `psql` running the same SQL with a
           transaction per step and its ledger row, and against the peers;
           server from --pg-url, CONSOLIDATE_TEST_POSTGRES_URL, or started
           and stopped by scripts/ci-postgres.sh; skipped with a note when
           there is none (or --no-pg)
  verify   `verify --apply` on a git history of VERIFY_STEPS steps over
           VERIFY_RELEASES releases (made with `consolidate release --commit
           --tag`), the repository on the disk (TMPDIR or --disk-dir) against
           the same repository in /dev/shm
  bigstep  apply of one BIGSTEP_MB step (scripts/bench_bigstep.py)
Peers (`sqlx`, `refinery`) are looked up in --peers-bin, PATH and
~/.cargo/bin, and reported as not installed otherwise. Helpers live in
scripts/bench_peers.py.
"""
import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import bench_peers as peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "consolidate")
ROWS = []

NAMES_ONLY = r'''
import os, sqlite3, sys
root, db = sys.argv[1], sys.argv[2]
on_disk = set()
for folder, comp in [("lib", "core")] + [(f"local/{p}", "local_" + p) for p in sorted(os.listdir(f"{root}/local"))]:
    d = f"{root}/{folder}/db/upgrades"
    if os.path.isdir(d):
        on_disk.update((comp, f[:-4]) for f in os.listdir(d) if f.endswith(".sql"))
c = sqlite3.connect(db)
applied = set(c.execute("SELECT component, step FROM upgrade_ledger"))
print(len(on_disk - applied), "pending")
'''


def tree(path, comps, steps):
    os.makedirs(f"{path}/lib/db/upgrades", exist_ok=True)
    with open(f"{path}/upgrade.toml", "w") as f:
        f.write('[project]\nname = "b"\nversion = "2010010100.00"\nrevision = 1\n\n'
                '[components]\ncore = "lib"\nplugin_types = [\n  { name = "local", folder = "local" },\n]\n')
    names = [("lib", "core")] + [(f"local/p{i:04d}", f"local_p{i:04d}") for i in range(comps - 1)]
    for ci, (folder, comp) in enumerate(names):
        d = f"{path}/{folder}/db/upgrades"
        os.makedirs(d, exist_ok=True)
        for s in range(steps):
            day, month, year = 1 + s % 28, 1 + (s // 28) % 12, 2001 + s // 336
            name = f"{year:04d}{month:02d}{day:02d}{ci % 100:02d}-c{ci}s{s}"
            with open(f"{d}/{name}.sql", "w") as f:
                f.write(f"INSERT INTO kv (k, v) VALUES ('{comp}.{s}', 'v');\n")


def files_under(path, suffix=""):
    return [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(suffix)]


def run(cmd, cwd, ok=(0,)):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} in {cwd} exited {r.returncode}: {r.stderr.decode()[-400:]}")


VERBOSE = False


def timed(cmd, cwd, ok=(0,)):
    a = time.perf_counter()
    run(cmd, cwd, ok)
    took = time.perf_counter() - a
    if VERBOSE:
        print(f"    {took:7.3f}s  {' '.join(cmd)[:150]}", flush=True)
    return took


def best(cmd, cwd, runs, ok=(0,), before=None):
    ts = []
    for _ in range(runs):
        if before:
            before()
        ts.append(timed(cmd, cwd, ok))
    return min(ts)


def peak_rss_mb(cmd, cwd, ok=(0,)):
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode not in ok:
        sys.exit(f"{cmd} exited {out.returncode}")
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def row(work, ours, floor_label, floor, target, holds):
    ratio = ours / floor if floor else float("nan")
    ROWS.append((work, ours, floor_label, floor, ratio, target, holds))
    print(f"  {work}: {ours:.3f}s vs {floor_label} {floor:.3f}s = {ratio:.2f}x (target {target}: "
          f"{'holds' if holds else 'FALLS SHORT'})", flush=True)


def note(work, text):
    ROWS.append((work, None, text, None, None, "", None))
    print(f"  {work}: {text}", flush=True)


def consolidate(*args):
    return [BIN, *args]


def setup_db(db):
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
    c.commit()
    c.close()


def copy_db(src, dst):
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        if os.path.exists(dst + suffix):
            os.remove(dst + suffix)
    c = sqlite3.connect(src)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    shutil.copyfile(src, dst)


def interleaved(cases, runs):
    """Best of `runs` for each (label, cmd, cwd[, before[, ok]]), the cases
    timed in turn within each run, so a slower moment of a shared machine
    hits them all; `before` (untimed) prepares each run, e.g. a fresh
    database; `ok`: the exit codes that are not a failure."""
    ts = {case[0]: [] for case in cases}
    for _ in range(runs):
        for label, cmd, cwd, *rest in cases:
            before = rest[0] if rest else None
            ok = rest[1] if len(rest) > 1 else (0,)
            if before:
                before()
            ts[label].append(timed(cmd, cwd, ok))
    return {label: min(v) for label, v in ts.items()}


def remove_db(db):
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def apply_tree(t, args):
    """The tree of the apply rows (made once per run): comps x steps insert
    steps into kv."""
    comps = max(1, args.apply_steps // args.steps)
    p = f"{t}/apply"
    if not os.path.isdir(p):
        tree(p, comps, args.steps)
    return p, comps * args.steps


def journal_mode(db):
    c = sqlite3.connect(db)
    try:
        return c.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        c.close()


def kv_rows(db):
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT count(*) FROM kv").fetchone()[0]
    finally:
        c.close()


def found_peers(args, work):
    """{peer: executable} of the installed peers; a note for each missing one."""
    out = {}
    for peer, exe in (("sqlx", "sqlx"), ("refinery", "refinery")):
        path = peers.find_peer(exe, args.peers_bin)
        if path:
            out[peer] = path
        else:
            note(f"`{peer} migrate`, {work}", f"{peer}: not installed (PATH, ~/.cargo/bin, --peers-bin DIR)")
    return out


def apply_migrations(t, p, found):
    """The peers' migration folders of the apply tree `p`, made once per run
    for the peers and pg parts."""
    out = f"{t}/apply-migrations"
    if not os.path.isdir(out):
        peers.migration_folders(peers.step_files(p), out)
    return {peer: f"{out}/{peer}" for peer in found}


def sqlx_info(t, args, shm, p, db, n):
    """`status` against `sqlx migrate info`, both with every step applied."""
    sqlx = peers.find_peer("sqlx", args.peers_bin)
    if not sqlx:
        note(f"`sqlx migrate info`, {n:,} migrations", "sqlx: not installed (PATH, ~/.cargo/bin, --peers-bin DIR)")
        return
    folder = peers.migration_folders(peers.step_files(p), f"{t}/wide-migrations", which=("sqlx",))["sqlx"]
    sdb = f"{shm}/bench10-sqlx-info-{os.getpid()}.db"
    setup_db(sdb)
    peers.sqlx_history(sdb, folder)
    info = [sqlx, "migrate", "info", "--no-dotenv", "--source", folder, "--database-url", peers.sqlx_url(sdb)]
    out = subprocess.run(info, cwd=t, capture_output=True, text=True).stdout
    installed = sum(1 for line in out.splitlines() if "/installed " in line)
    if installed != n or "different checksum" in out:
        sys.exit(f"`sqlx migrate info` sees {installed} of {n} migrations installed with their checksum: "
                 f"{out[-300:]}")
    times = interleaved([("ours", consolidate("status", "--db", db), p), ("sqlx", info, t)], args.runs)
    row(f"`status` vs `sqlx migrate info`, {n:,} steps, all applied", times["ours"], "`sqlx migrate info`",
        times["sqlx"], "<= 0.5x", times["ours"] <= 0.5 * times["sqlx"])
    remove_db(sdb)
    shutil.rmtree(f"{t}/wide-migrations", ignore_errors=True)


def peer_rows(t, args, shm):
    """`apply` against `sqlx migrate run` and `refinery migrate` on SQLite on
    tmpfs: the same steps, a transaction per step with its history row."""
    p, n = apply_tree(t, args)
    print(f"apply against the peers, {n:,} insert steps, SQLite on tmpfs:", flush=True)
    found = found_peers(args, f"{n:,} steps, SQLite")
    if not found:
        return
    folders = apply_migrations(t, p, found)
    dbs = {who: f"{shm}/bench10-peer-{who}-{os.getpid()}.db" for who in ["ours", *found]}
    cases = [("ours", consolidate("apply", "--db", dbs["ours"]), p, lambda: setup_db(dbs["ours"]))]
    for peer, exe in found.items():
        cases.append((peer, peers.peer_apply_cmd(peer, exe, folders[peer], dbs[peer], t), t,
                      lambda db=dbs[peer]: setup_db(db)))
    times = interleaved(cases, args.runs)
    for who, db in dbs.items():
        if kv_rows(db) != n:
            sys.exit(f"{who} left {kv_rows(db)} rows in kv, not {n}")
        note(f"SQLite guarantees of {'consolidate' if who == 'ours' else who}",
             f"journal mode of the file after the run: {journal_mode(db)}; "
             f"{peers.SQLITE_GUARANTEES['consolidate' if who == 'ours' else who]}")
    for peer in found:
        row(f"`apply` {n:,} steps, tmpfs, vs {peer}", times["ours"], f"`{peer} migrate`", times[peer], "-", True)
    best_peer = min(found, key=lambda k: times[k])
    row(f"`apply` {n:,} steps, tmpfs, vs the best peer", times["ours"], f"`{best_peer} migrate`",
        times[best_peer], "<= 0.67x (1.5x faster)", times["ours"] * 1.5 <= times[best_peer])
    for db in dbs.values():
        remove_db(db)


def pg_rows(t, args):
    """PostgreSQL: `apply` against `psql` running the same SQL, a
    transaction per step with its ledger row, and against the peers."""
    pg = peers.Postgres(ROOT, args.pg_url, start=not args.no_pg)
    if not pg.url:
        note("PostgreSQL rows", pg.why)
        print("PostgreSQL:", flush=True)
        print(f"  {pg.why}", flush=True)
        return
    try:
        p, n = apply_tree(t, args)
        settings = pg.settings()
        print(f"PostgreSQL, apply of {n:,} insert steps ({pg.origin}; server {settings}):", flush=True)
        note("PostgreSQL server of the pg rows", f"{settings} (the same server for every tool); "
             f"{peers.PG_TRANSACTIONS}")
        steps = peers.step_files(p)
        script = ["CREATE TABLE ledger (component TEXT NOT NULL, step TEXT NOT NULL, checksum TEXT NOT NULL, "
                  "applied_at TEXT NOT NULL, PRIMARY KEY (component, step));\n"]
        for comp, name, path in steps:
            with open(path) as fh:
                body = fh.read()
            script.append(f"BEGIN;\n{body}INSERT INTO ledger (component, step, checksum, applied_at) VALUES "
                          f"('{comp}', '{name}', '{'0' * 64}', '2026-01-01T00:00:00Z');\nCOMMIT;\n")
        sql = f"{t}/apply-pg.sql"
        with open(sql, "w") as fh:
            fh.write("".join(script))
        found = found_peers(args, f"{n:,} steps, PostgreSQL")
        folders = apply_migrations(t, p, found)
        names = {who: f"bench10_{os.getpid()}_{who}" for who in ["ours", "psql", *found]}
        urls = {who: peers.with_database(pg.url, name) for who, name in names.items()}

        def fresh(who):
            peers.psql(pg.url, f"DROP DATABASE IF EXISTS {names[who]}", f"CREATE DATABASE {names[who]}")
            peers.psql(urls[who], "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")

        cases = [("ours", consolidate("apply", "--db", urls["ours"]), p, lambda: fresh("ours")),
                 ("psql", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", urls["psql"], "-f", sql], t,
                  lambda: fresh("psql"))]
        for peer, exe in found.items():
            cases.append((peer, peers.peer_apply_cmd(peer, exe, folders[peer], urls[peer], t), t,
                          lambda who=peer: fresh(who)))
        times = interleaved(cases, args.runs)
        for who, url in urls.items():
            got = peers.psql_value(url, "SELECT count(*) FROM kv")
            if got != str(n):
                sys.exit(f"{who} left {got} rows in kv on PostgreSQL, not {n}")
        row(f"`apply` {n:,} steps, PostgreSQL", times["ours"], "`psql`, same SQL, a transaction per step "
            "with its ledger row", times["psql"], "<= 1.1x", times["ours"] <= 1.1 * times["psql"])
        for peer in found:
            row(f"`apply` {n:,} steps, PostgreSQL, vs {peer}", times["ours"], f"`{peer} migrate`", times[peer],
                "-", True)
        if found:
            best_peer = min(found, key=lambda k: times[k])
            row(f"`apply` {n:,} steps, PostgreSQL, vs the best peer", times["ours"], f"`{best_peer} migrate`",
                times[best_peer], "<= 0.83x (1.2x faster, as before)", times["ours"] * 1.2 <= times[best_peer])
        for name in names.values():
            peers.psql(pg.url, f"DROP DATABASE IF EXISTS {name}")
    finally:
        pg.stop()


def verify_rows(t, args, shm):
    """`verify --apply` on a git history in a folder on the disk against the
    same history in /dev/shm: scratch databases must not wait on the disk."""
    n, releases = args.verify_steps, args.verify_releases
    disk_parent = args.disk_dir or t
    kind = peers.fs_type(disk_parent)
    print(f"verify --apply, a {n:,}-step history over {releases} releases, repository on {disk_parent} ({kind}) "
          f"and on {shm}:", flush=True)
    disk = tempfile.mkdtemp(prefix="bench10-verify-", dir=disk_parent)
    ram = tempfile.mkdtemp(prefix="bench10-verify-", dir=shm)
    try:
        peers.history(f"{disk}/h", BIN, n, releases)
        shutil.copytree(f"{disk}/h", f"{ram}/h", symlinks=True)
        r = subprocess.run(consolidate("verify", "--apply"), cwd=f"{disk}/h", capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"verify --apply on the generated history exited {r.returncode}: {r.stdout[-600:]}{r.stderr[-400:]}")
        for line in r.stdout.splitlines():
            if "C1 on SQLite" in line:
                print(f"  ({line.strip()})", flush=True)
        times = interleaved([("disk", consolidate("verify", "--apply"), f"{disk}/h"),
                             ("ram", consolidate("verify", "--apply"), f"{ram}/h")], args.runs)
        row(f"`verify --apply`, {n:,}-step history, {releases} releases, repository on {kind}", times["disk"],
            f"the same on {shm}", times["ram"], "<= 2x", times["disk"] <= 2 * times["ram"])
        if kind in ("tmpfs", "ramfs"):
            note("`verify --apply` on disk", f"{disk_parent} is not on a disk ({kind}): give --disk-dir DIR")
    finally:
        shutil.rmtree(disk, ignore_errors=True)
        shutil.rmtree(ram, ignore_errors=True)


def lists(t, args):
    print("list / check, one component's released entries:", flush=True)
    one = [int(n) for n in args.one.split(",")]
    for n in one:
        p = f"{t}/one{n}"
        tree(p, 1, n)
        run(consolidate("release", "R1", "--allow-dirty"), p)
    p = f"{t}/small-released"
    tree(p, args.small, args.steps)
    run(consolidate("release", "R1", "--allow-dirty"), p)
    small_n = args.small * args.steps
    cases = [(("cat", n), ["cat", f"{t}/one{n}/lib/db/upgrade.toml"], t) for n in one]
    for cmd in ("list", "check"):
        cases += [((cmd, n), consolidate(cmd), f"{t}/one{n}") for n in one]
        cases.append(((cmd, "small"), consolidate(cmd), p))
    # At least 10 turns: the ratio of two linear runs sits near 2 and the
    # target allows 2.2, so one noisy moment in few turns decided the row.
    times = interleaved(cases, max(args.runs * 2, 10))
    for cmd in ("list", "check"):
        for n in one:
            row(f"`{cmd}`, one component, {n:,} released entries", times[(cmd, n)], "`cat` of the file",
                times[("cat", n)], "-", True)
        lo, hi = one[0], one[-1]
        if hi != lo:
            limit = 2.2 * hi / lo / 2
            row(f"`{cmd}` {hi:,} / {lo:,} entries", times[(cmd, hi)], f"`{cmd}` {lo:,}", times[(cmd, lo)],
                f"<= {limit:.1f}x", times[(cmd, hi)] <= limit * times[(cmd, lo)])
        same = min(one, key=lambda n: abs(n - small_n))
        spread = times[(cmd, "small")]
        row(f"`{cmd}` one component x {same:,} vs {args.small} x {args.steps} released", times[(cmd, same)],
            f"`{cmd}` {args.small} x {args.steps}", spread, "<= 3x", times[(cmd, same)] <= 3 * spread)


def wide(t, args, shm):
    n = args.wide * args.steps
    print(f"site commands, {args.wide} components x {args.steps} steps = {n:,} steps:", flush=True)
    p = f"{t}/wide"
    tree(p, args.wide, args.steps)
    db = f"{shm}/bench10-{os.getpid()}.db"
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    # Side by side, as the other rows comparing two of our commands, at
    # least 7 turns as the `status` rows (the two take about the same time).
    times = interleaved([("status", consolidate("status", "--db", db), p, None, (2,)),
                         ("plan", consolidate("plan", "--db", db), p)], max(args.runs, 7))
    st, pl = times["status"], times["plan"]
    row(f"`plan` on a fresh site, {n:,} steps", pl, "`status`", st, "<= 1.2x", pl <= 1.2 * st)
    setup_db(db)
    ap = timed(consolidate("apply", "--db", db), p)
    print(f"  (apply of {n:,} steps on tmpfs: {ap:.2f}s)", flush=True)
    script = f"{t}/names_only.py"
    with open(script, "w") as f:
        f.write(NAMES_ONLY)
    un = best(consolidate("status", "--db", db), p, args.runs)
    names = best([sys.executable, script, p, db], p, args.runs)
    row(f"`status`, {n:,} steps, {n:,} ledger rows", un, "names-only diff in Python", names, "<= 1.5x",
        un <= 1.5 * names)
    sqlx_info(t, args, shm, p, db, n)
    # release --dry-run and release (real) against cat / cat + rm of the same files.
    steps_files = files_under(p, ".sql")
    step_bytes = sum(os.path.getsize(f) for f in steps_files)
    cat = best(["sh", "-c", "find . -name '*.sql' -print0 | xargs -0 cat > /dev/null"], p, args.runs)
    dry = best(consolidate("release", "R1", "--dry-run", "--allow-dirty"), p, args.runs)
    rss = peak_rss_mb(consolidate("release", "R1", "--dry-run", "--allow-dirty"), p)
    row(f"`release --dry-run`, {n:,} steps", dry, "`cat` of the step files", cat, "<= 2x", dry <= 2 * cat)
    limit = 2 * step_bytes / 2**20 + 50
    print(f"  peak RSS of release --dry-run: {rss:.0f} MB (limit 2 x {step_bytes / 2**20:.1f} MB + 50 MB = "
          f"{limit:.0f} MB: {'holds' if rss <= limit else 'FALLS SHORT'})", flush=True)
    ROWS.append((f"`release --dry-run` peak RSS, {n:,} steps", rss, "2 x step bytes + 50 MB", limit,
                 rss / limit, "<= 1x", rss <= limit))
    floor_tree = f"{t}/wide-floor"
    shutil.copytree(p, floor_tree)
    floor = timed(["sh", "-c", "find . -name '*.sql' -print0 | xargs -0 cat > /dev/null && "
                               "find . -name '*.sql' -print0 | xargs -0 rm -f && sync"], floor_tree)
    shutil.rmtree(floor_tree)
    released = f"{t}/wide-released"
    shutil.copytree(p, released)
    rel = timed(consolidate("release", "R1", "--allow-dirty"), released)
    row(f"`release` real, {n:,} steps", rel, "`cat` + `rm` of the same files (+ sync)", floor, "<= 2x",
        rel <= 2 * floor)
    # The site moves to the consolidated tree: ledger rows the release covers.
    covered = f"{shm}/bench10-covered-{os.getpid()}.db"
    copy_db(db, covered)
    c = sqlite3.connect(covered)
    c.execute("UPDATE upgrade_site SET completed_release = 'R1'")
    c.commit()
    c.close()
    scratch = f"{shm}/bench10-prune-{os.getpid()}.db"
    # The same site fully released: release completed, rows pruned.
    done = f"{shm}/bench10-done-{os.getpid()}.db"
    copy_db(db, done)
    run(consolidate("apply", "--db", done), released)
    # The two `prune` rows side by side, as the `status` rows below, each
    # the best of at least 5 runs (a full load of the tree, 1 to 1.5 s).
    times = interleaved([("covered", consolidate("prune", "--db", scratch), released,
                          lambda: copy_db(covered, scratch)),
                         ("empty", consolidate("prune", "--db", done), released)], max(args.runs, 5))
    cov_prune, empty_prune = times["covered"], times["empty"]
    # The three `status` rows compared with each other, side by side: each
    # the best of at least 7 runs taken in turn, so a slow moment of a shared
    # machine hits all three (they take 0.1 to 0.4 s each).
    times = interleaved([("unreleased", consolidate("status", "--db", db), p),
                         ("released", consolidate("status", "--db", done), released),
                         ("covered", consolidate("status", "--db", covered), released)], max(args.runs, 7))
    un, rel_status, cov_status = times["unreleased"], times["released"], times["covered"]
    row(f"`status` fully released, 0 ledger rows, {n:,} entries", rel_status, "unreleased `status`", un,
        "<= 0.3x", rel_status <= 0.3 * un)
    row(f"`status`, {n:,} covered rows", cov_status, "`status` empty ledger", rel_status, "<= 1.5x",
        cov_status <= 1.5 * rel_status)
    row(f"`prune`, {n:,} covered rows", cov_prune, "`prune` empty ledger", empty_prune, "<= 1.5x",
        cov_prune <= 1.5 * empty_prune)
    for f in (db, covered, scratch, done):
        for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
            if os.path.exists(f + suffix):
                os.remove(f + suffix)


def apply_rows(t, args, shm):
    n = args.apply_steps
    comps = max(1, n // args.steps)
    print(f"apply, {comps} x {args.steps} = {comps * args.steps:,} insert steps, SQLite on tmpfs:", flush=True)
    p, _ = apply_tree(t, args)
    db = f"{shm}/bench10-apply-{os.getpid()}.db"
    ours = best(consolidate("apply", "--db", db), p, args.runs, before=lambda: setup_db(db))
    # Floor: the sqlite3 CLI running the same statements, one transaction per
    # step with its ledger row, in WAL mode with synchronous=FULL like ours.
    script = [f"PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\n"
              "CREATE TABLE ledger (component TEXT, step TEXT, checksum TEXT, PRIMARY KEY (component, step));\n"]
    for f in sorted(files_under(p, ".sql")):
        comp_folder = os.path.relpath(f, p).split("/db/")[0]
        comp = "core" if comp_folder == "lib" else "local_" + comp_folder.split("/")[-1]
        with open(f) as fh:
            body = fh.read()
        script.append(f"BEGIN;\n{body}INSERT INTO ledger VALUES ('{comp}', '{os.path.basename(f)[:-4]}', 'x');\nCOMMIT;\n")
    sql = f"{t}/apply.sql"
    with open(sql, "w") as fh:
        fh.write("".join(script))
    floor_db = f"{shm}/bench10-cli-{os.getpid()}.db"
    cli = best(["sh", "-c", f"sqlite3 {floor_db} < {sql}"], p, args.runs, before=lambda: setup_db(floor_db))
    row(f"`apply` {comps * args.steps:,} steps, tmpfs", ours, "`sqlite3` CLI, same SQL, a transaction per step",
        cli, "-", True)
    for f in (db, floor_db):
        for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
            if os.path.exists(f + suffix):
                os.remove(f + suffix)


def bigstep(args):
    script = os.path.join(ROOT, "scripts", "bench_bigstep.py")
    if not os.path.exists(script):
        note(f"`apply` of one {args.bigstep_mb} MB step", "skipped: scripts/bench_bigstep.py is not in this tree")
        return
    print(f"apply of one {args.bigstep_mb} MB step (scripts/bench_bigstep.py):", flush=True)
    # Its release rows (a second 1,000 x 100 tree, copied twice per run) are
    # the wide part's rows: a one-step release keeps them out of the time.
    r = subprocess.run([sys.executable, script, "--step-mb", str(args.bigstep_mb), "--runs", str(args.runs),
                        "--release", "1x1"], cwd=ROOT, env=dict(os.environ, CONSOLIDATE_BIN=BIN),
                       stdout=subprocess.PIPE, text=True)
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("apply"):
            ours, floor = float(cells[1]), float(cells[3])
            limit = float(cells[5].lstrip("<= ").rstrip("x")) if cells[5].startswith("<=") else None
            row(f"`{cells[0]}`", ours, f"`{cells[2]}`", floor, cells[5],
                limit is None or ours <= limit * floor)
    if r.returncode != 0:
        note(f"`apply` of one {args.bigstep_mb} MB step", f"scripts/bench_bigstep.py exited {r.returncode}")


def main():
    global BIN
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wide", type=int, default=1000, help="components of the wide tree")
    parser.add_argument("--small", type=int, default=100, help="components of the small tree")
    parser.add_argument("--steps", type=int, default=100, help="steps per component")
    parser.add_argument("--one", default="10000,20000", help="released entries of the one-component trees")
    parser.add_argument("--apply-steps", type=int, default=10000)
    parser.add_argument("--bigstep-mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verify-steps", type=int, default=1400, help="steps of the verify --apply history")
    parser.add_argument("--verify-releases", type=int, default=4, help="releases of that history")
    parser.add_argument("--disk-dir", help="a folder on a real disk for the verify row (default: TMPDIR)")
    parser.add_argument("--peers-bin", help="folder holding `sqlx` and `refinery` (else PATH, ~/.cargo/bin)")
    parser.add_argument("--pg-url", help="a PostgreSQL server (role with CREATEDB) for the pg rows "
                        "(else CONSOLIDATE_TEST_POSTGRES_URL, else one started by scripts/ci-postgres.sh)")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL rows unless a URL is given")
    parser.add_argument("--bin", default=BIN, help="the consolidate binary (default: target/release/consolidate)")
    parser.add_argument("--only", default="lists,wide,apply,peers,pg,verify,bigstep",
                        help="parts to run, comma-separated: lists, wide, apply, peers, pg, verify, bigstep")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print the time of every timed command")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    BIN = os.path.abspath(args.bin)
    parts = args.only.split(",")
    unknown = set(parts) - {"lists", "wide", "apply", "peers", "pg", "verify", "bigstep"}
    if unknown:
        parser.error(f"unknown part(s) for --only: {', '.join(sorted(unknown))}")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "consolidate-cli"], cwd=ROOT, check=True)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    t = tempfile.mkdtemp(prefix="bench10-")
    start = time.perf_counter()
    try:
        work = {"lists": lambda: lists(t, args), "wide": lambda: wide(t, args, shm),
                "apply": lambda: apply_rows(t, args, shm), "peers": lambda: peer_rows(t, args, shm),
                "pg": lambda: pg_rows(t, args), "verify": lambda: verify_rows(t, args, shm),
                "bigstep": lambda: bigstep(args)}
        for part, fn in work.items():
            if part in parts:
                at = time.perf_counter()
                fn()
                print(f"  [{part}: {time.perf_counter() - at:.0f}s]", flush=True)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    print(f"\n| work | ours s | floor / peer | floor s | ratio | target | holds |")
    print("| --- | ---: | --- | ---: | ---: | --- | --- |")
    for work, ours, label, floor, ratio, target, holds in ROWS:
        if ours is None:
            print(f"| {work} | — | {label} | — | — | — | — |")
        else:
            print(f"| {work} | {ours:.3f} | {label} | {floor:.3f} | {ratio:.2f} | {target} | "
                  f"{'yes' if holds else 'no'} |")
    print(f"\nwhole run: {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
