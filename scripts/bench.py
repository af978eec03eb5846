#!/usr/bin/env python3
"""Benchmarks of the `consolidate` binary on synthetic trees of growing size.

Usage: python3 scripts/bench.py [--sizes 1000,2000,4000,8000] [--runs 5]
       python3 scripts/bench.py --scale [ARGS of scripts/bench_issue10.py]

`--scale` runs the scale benchmark of issue 10 instead (every row of its
table against its floor, sizes as arguments): scripts/bench_issue10.py.

Builds the release binary, generates trees of N steps (half released, half
standalone, 40 components), and times `list`, `check` and
`release --dry-run`, median of --runs runs. Every figure is printed as a
ratio against two baselines measured in the same run: reading the same tree's
files with `cat` (the I/O floor), and the same command on the smallest tree
(growth: a linear command doubles when N doubles).
"""
import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "consolidate")


def normalise(body):
    lines = [l.rstrip() for l in body.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def make_tree(path, n):
    plugins = [f"p{i:02d}" for i in range(39)]
    components = [("core", "lib")] + [(f"mod_{p}", f"mod/{p}") for p in plugins]
    with open(os.path.join(path, "upgrade.toml"), "w") as f:
        f.write('[project]\nname = "bench"\nversion = "2009010100.00"\nrevision = 1\n\n'
                '[components]\ncore = "lib"\nplugin_types = [ { name = "mod", folder = "mod" } ]\n\n'
                '[[release]]\nname = "R1"\nversion = "2008010100.00"\n')
    released = {}
    for i in range(n):
        comp, folder = components[i % len(components)]
        day = i // len(components)
        name = f"{2007 + (day // 336)}{1 + (day // 28) % 12:02d}{1 + day % 28:02d}{i % 100:02d}-s{i}"
        body = f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(255));\n"
        dbdir = os.path.join(path, folder, "db")
        os.makedirs(os.path.join(dbdir, "upgrades"), exist_ok=True)
        if i < n // 2:
            checksum = "sha256:" + hashlib.sha256(normalise(body).encode()).hexdigest()
            released.setdefault(comp, []).append((name, checksum))
            with open(os.path.join(dbdir, "upgrade.toml"), "a") as f:
                f.write(f'\n[[step]]\nname = "{name}"\nrelease = "R1"\nphase = "main"\n'
                        f'checksum = "{checksum}"\nsql = \'\'\'\n{body}\'\'\'\n')
        else:
            with open(os.path.join(dbdir, "upgrades", name + ".sql"), "w") as f:
                f.write(body)
    os.makedirs(os.path.join(path, "releases"), exist_ok=True)
    with open(os.path.join(path, "releases", "R1.toml"), "w") as f:
        f.write('release = "R1"\nversion = "2008010100.00"\n')
        for comp in sorted(released):
            f.write(f"\n[covers.{comp}]\n")
            for name, checksum in sorted(released[comp]):
                f.write(f'"{name}" = "{checksum}"\n')


def median_time(cmd, cwd, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    if "--scale" in sys.argv[1:]:
        rest = [a for a in sys.argv[1:] if a != "--scale"]
        script = os.path.join(ROOT, "scripts", "bench_issue10.py")
        sys.exit(subprocess.run([sys.executable, script, *rest]).returncode)
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,2000,4000,8000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "consolidate-cli"], cwd=ROOT, check=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    commands = {
        "list": ["list"],
        "check": ["check"],
        "release --dry-run": ["release", "R2", "--dry-run"],
    }
    smallest = {}
    print(f"| steps | command | median s | / cat baseline | / same command at {sizes[0]} steps |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n in sizes:
        tmp = tempfile.mkdtemp(prefix="bench-")
        try:
            make_tree(tmp, n)
            files = [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs]
            cat = median_time(["cat"] + files, tmp, args.runs)
            for label, cmd in commands.items():
                t = median_time([BIN] + cmd, tmp, args.runs)
                smallest.setdefault(label, t)
                print(f"| {n} | `{label}` | {t:.3f} | {t / cat:.1f} | {t / smallest[label]:.2f} |")
        finally:
            shutil.rmtree(tmp)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
