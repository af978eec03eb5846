#!/usr/bin/env python3
"""Batch throughput of `consolidate post run` against a plain UPDATE of the
whole table on the same data (SQLite).

For each run: a fresh tree whose core step creates `big` with N rows and a
batched post step `UPDATE big SET v = v + 1 WHERE id BETWEEN :lo AND :hi`
(`-- batch: big.id SIZE`); `consolidate apply` creates the table (not timed),
then `consolidate post run` is timed. The baseline is the same UPDATE without
the range, run by the sqlite3 module on a copy of the same database in one
transaction. Prints the medians and the ratio (post run / plain UPDATE).

    python3 scripts/bench_batches.py --rows 100000 --sizes 1000,10000 --runs 3
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time

MANIFEST = """[project]
name = "bench"
version = "2008030100.00"
revision = 1

[components]
core = "lib"
plugin_types = [
  { name = "mod", folder = "mod" },
]
"""


def make_tree(root, rows, size):
    up = os.path.join(root, "lib", "db", "upgrades")
    os.makedirs(up)
    with open(os.path.join(root, "upgrade.toml"), "w") as f:
        f.write(MANIFEST)
    with open(os.path.join(up, "2008010100-core.sql"), "w") as f:
        f.write(
            "CREATE TABLE big (id INTEGER PRIMARY KEY, v INT NOT NULL);\n"
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            f"WHERE i < {rows}) INSERT INTO big SELECT i, 0 FROM n;\n"
        )
    with open(os.path.join(up, "2008010300-backfill.sql"), "w") as f:
        f.write(
            f"-- phase: post\n-- batch: big.id {size}\n"
            "UPDATE big SET v = v + 1 WHERE id BETWEEN :lo AND :hi;\n"
        )


def one_run(binary, rows, size):
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        make_tree(tree, rows, size)
        db = os.path.join(tmp, "site.db")
        subprocess.run([binary, "apply", "--db", db], cwd=tree, check=True,
                       stdout=subprocess.DEVNULL)
        plain_db = os.path.join(tmp, "plain.db")
        shutil.copy(db, plain_db)
        start = time.perf_counter()
        subprocess.run([binary, "post", "run", "--db", db], cwd=tree, check=True,
                       stdout=subprocess.DEVNULL)
        batched = time.perf_counter() - start
        conn = sqlite3.connect(plain_db, isolation_level=None)
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("UPDATE big SET v = v + 1")
        conn.execute("COMMIT")
        plain = time.perf_counter() - start
        conn.close()
        check = sqlite3.connect(db)
        bad = check.execute("SELECT count(*) FROM big WHERE v <> 1").fetchone()[0]
        check.close()
        if bad:
            raise SystemExit(f"{bad} rows not updated exactly once")
        return batched, plain


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bin", default="target/release/consolidate")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    print(f"rows {args.rows}, binary {args.bin}, median of {args.runs} runs")
    print("| batch size | ranges | post run s | plain UPDATE s | ratio | rows/s batched |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in [int(s) for s in args.sizes.split(",")]:
        results = [one_run(binary, args.rows, size) for _ in range(args.runs)]
        batched = statistics.median(r[0] for r in results)
        plain = statistics.median(r[1] for r in results)
        ranges = -(-args.rows // size)
        print(f"| {size} | {ranges} | {batched:.3f} | {plain:.3f} | "
              f"{batched / plain:.1f} | {args.rows / batched:.0f} |")


if __name__ == "__main__":
    main()
