#!/usr/bin/env python3
"""Big steps and big releases against their floors, measured in the same run.

Usage:
  cargo build --release -p consolidate-cli
  python3 scripts/bench_bigstep.py [--step-mb 1,2,4,50] [--release 1000x100] [--runs 3]

Rows (best of --runs, release binary target/release/consolidate):

- apply of one step of N MB of `INSERT INTO t VALUES (...)` lines on a
  SQLite file on disk, against the `sqlite3` CLI running the same file in one
  transaction with the same guarantees (WAL journal, synchronous = FULL, as
  `consolidate apply` uses). Target: <= 3x the CLI, and linear.
- `release R1` (real) of a tree of COMPONENTS x STEPS standalone steps,
  against the floor `cat` of every step file plus `rm` of them (no sync).
  Target: <= 2x that floor. Each run works on a fresh copy (copy not timed).
- `release R1 --dry-run` of the same tree: peak RSS (`/usr/bin/time -v`)
  against 2 x the step bytes + 50 MB, and time against `cat`.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("CONSOLIDATE_BIN", os.path.join(ROOT, "target", "release", "consolidate"))
MANIFEST = (
    '[project]\nname = "b"\nversion = "2010010100.00"\nrevision = 1\n\n'
    '[components]\ncore = "lib"\nplugin_types = [\n  { name = "local", folder = "local" },\n]\n'
)


def big_step_tree(path, mb):
    """A tree with one step of about `mb` MB of inserts; returns the step file."""
    os.makedirs(f"{path}/lib/db/upgrades", exist_ok=True)
    with open(f"{path}/upgrade.toml", "w") as f:
        f.write(MANIFEST)
    step = f"{path}/lib/db/upgrades/2001010100-big.sql"
    target = int(mb * 1_000_000)
    with open(step, "w") as f:
        i, size = 0, 0
        while size < target:
            line = f"INSERT INTO t VALUES ({i}, 'value number {i} with some padding text');\n"
            f.write(line)
            size += len(line)
            i += 1
    return step, i


def release_tree(path, comps, steps):
    os.makedirs(f"{path}/lib/db/upgrades", exist_ok=True)
    with open(f"{path}/upgrade.toml", "w") as f:
        f.write(MANIFEST)
    names = [("lib", "core")] + [(f"local/p{i:04d}", f"local_p{i:04d}") for i in range(comps - 1)]
    for ci, (folder, comp) in enumerate(names):
        d = f"{path}/{folder}/db/upgrades"
        os.makedirs(d, exist_ok=True)
        for s in range(steps):
            day = 1 + s % 28
            month = 1 + (s // 28) % 12
            year = 2001 + s // 336
            name = f"{year:04d}{month:02d}{day:02d}{ci % 100:02d}-c{ci}s{s}"
            with open(f"{d}/{name}.sql", "w") as f:
                f.write(f"INSERT INTO kv (k, v) VALUES ('{comp}.{s}', 'v');\n")


def fresh_db(path):
    for suffix in ("", "-wal", "-shm", ".lock"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    subprocess.run(["sqlite3", path, "CREATE TABLE t (a INTEGER, b TEXT);"], check=True)


def timed(cmd, cwd=None, stdin=None):
    a = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - a
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-400:]}")
    return took


def bench_apply(work, sizes, runs):
    rows = []
    for mb in sizes:
        tree = f"{work}/step{mb}"
        step, n = big_step_tree(tree, mb)
        db = f"{work}/apply.db"
        ours, cli = [], []
        for _ in range(runs):
            fresh_db(db)
            ours.append(timed([BIN, "apply", "--db", db], cwd=tree))
            got = subprocess.run(["sqlite3", db, "SELECT count(*) FROM t"], capture_output=True, text=True).stdout.strip()
            assert got == str(n), f"apply inserted {got} rows, not {n}"
            fresh_db(db)
            script = f"PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nBEGIN;\n.read {step}\nCOMMIT;\n"
            with tempfile.TemporaryFile("w+") as f:
                f.write(script)
                f.seek(0)
                cli.append(timed(["sqlite3", "-bail", db], stdin=f))
        o, c = min(ours), min(cli)
        rows.append((f"apply, one {mb} MB step ({n} statements)", o, "sqlite3 CLI, one transaction", c, o / c, "<= 3x"))
        shutil.rmtree(tree)
    return rows


def step_files(tree):
    out = []
    for d, _, files in os.walk(tree):
        out.extend(os.path.join(d, f) for f in files if f.endswith(".sql"))
    return out


def bench_release(work, comps, steps, runs):
    base = f"{work}/release-base"
    release_tree(base, comps, steps)
    files = step_files(base)
    step_bytes = sum(os.path.getsize(f) for f in files)
    real, floor, dry, cat, rss = [], [], [], [], []
    for _ in range(runs):
        t = f"{work}/release-run"
        shutil.rmtree(t, ignore_errors=True)
        shutil.copytree(base, t)
        real.append(timed([BIN, "release", "R1", "--allow-dirty"], cwd=t))
        assert not step_files(t), "release left step files"
        shutil.rmtree(t)
        shutil.copytree(base, t)
        rel = [os.path.relpath(f, base) for f in files]
        listing = f"{work}/files.txt"
        with open(listing, "w") as f:
            f.write("\0".join(rel))
        a = time.perf_counter()
        subprocess.run(f"xargs -0 cat < {listing} > /dev/null && xargs -0 rm < {listing}", shell=True, cwd=t, check=True)
        floor.append(time.perf_counter() - a)
        shutil.rmtree(t)
        # Dry run on the untouched tree: time and peak RSS.
        a = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-v", BIN, "release", "R1", "--allow-dirty", "--dry-run"],
                           cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        dry.append(time.perf_counter() - a)
        if r.returncode != 0:
            sys.exit(f"dry run exited {r.returncode}: {r.stderr[-400:]}")
        rss.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024)
        a = time.perf_counter()
        subprocess.run(f"xargs -0 cat < {listing} > /dev/null", shell=True, cwd=base, check=True)
        cat.append(time.perf_counter() - a)
    n = comps * steps
    limit = 2 * step_bytes / 1e6 + 50
    return [
        (f"release, {n} steps ({comps}x{steps})", min(real), "cat + rm of the step files", min(floor), min(real) / min(floor), "<= 2x"),
        (f"release --dry-run, {n} steps", min(dry), "cat of the step files", min(cat), min(dry) / min(cat), "<= 2x"),
        (f"release --dry-run peak RSS (MB), step bytes {step_bytes / 1e6:.1f} MB", max(rss), "2 x step bytes + 50 MB", limit, max(rss) / limit, "<= 1x"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step-mb", default="1,2,4,50", help="sizes of the single step, MB, comma separated")
    ap.add_argument("--release", default="1000x100", help="COMPONENTSxSTEPS of the release tree")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: cargo build --release -p consolidate-cli")
    sizes = [float(s) if "." in s else int(s) for s in args.step_mb.split(",") if s]
    comps, steps = (int(x) for x in args.release.lower().split("x"))
    work = tempfile.mkdtemp(prefix="bench-bigstep.", dir=os.environ.get("BENCH_DIR"))
    try:
        rows = bench_apply(work, sizes, args.runs) + bench_release(work, comps, steps, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"| work | ours | floor / peer | floor | ratio | target |")
    print(f"|---|---|---|---|---|---|")
    for what, ours, peer, floor, ratio, target in rows:
        print(f"| {what} | {ours:.2f} | {peer} | {floor:.2f} | {ratio:.2f}x | {target} |")


if __name__ == "__main__":
    main()
