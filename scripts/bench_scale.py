# Side by side, two builds of `consolidate` (base, new), best of 3: the sample of the Scale acceptance check, parts 1 and 2.
# Usage: python3 scripts/bench_scale.py BASE_BINARY NEW_BINARY
import os, subprocess, sys, time, tempfile
base, new = sys.argv[1], sys.argv[2]
t = tempfile.mkdtemp(prefix="scale-measure.")
def tree(path, comps, steps):
    os.makedirs(f"{path}/lib/db/upgrades", exist_ok=True)
    with open(f"{path}/upgrade.toml", "w") as f:
        f.write('[project]\nname = "b"\nversion = "2010010100.00"\nrevision = 1\n\n[components]\ncore = "lib"\nplugin_types = [\n  { name = "local", folder = "local" },\n]\n')
    names = [("lib", "core")] + [(f"local/p{i:04d}", f"local_p{i:04d}") for i in range(comps - 1)]
    for ci, (folder, comp) in enumerate(names):
        d = f"{path}/{folder}/db/upgrades"; os.makedirs(d, exist_ok=True)
        for s in range(steps):
            day = 1 + s % 28; month = 1 + (s // 28) % 12; year = 2001 + s // 336
            name = f"{year:04d}{month:02d}{day:02d}{ci % 100:02d}-c{ci}s{s}"
            open(f"{d}/{name}.sql", "w").write(f"INSERT INTO kv (k, v) VALUES ('{comp}.{s}', 'v');\n")
def run(bin_, cwd, *args, ok=(0,)):
    r = subprocess.run([bin_, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert r.returncode in ok, (args, r.returncode, r.stderr[-300:])
def best(bin_, cwd, *args, ok=(0,)):
    ts = []
    for _ in range(3):
        a = time.perf_counter(); run(bin_, cwd, *args, ok=ok); ts.append(time.perf_counter() - a)
    return min(ts)
for n in (4000, 8000):
    p = f"{t}/one{n}"; tree(p, 1, n); run(new, p, "release", "R1", "--allow-dirty")
p = f"{t}/wide"; tree(p, 300, 100)
db = f"/dev/shm/scale-measure-{os.getpid()}.db"
for label, b in (("base", base), ("new", new)):
    l4, l8 = best(b, f"{t}/one4000", "list"), best(b, f"{t}/one8000", "list")
    st = best(b, p, "status", "--db", db, ok=(2,)); pl = best(b, p, "plan", "--db", db)
    print(f"{label}: list 4k {l4:.2f}s, 8k {l8:.2f}s ({l8/l4:.2f}x); fresh 30,000-step site: status {st:.2f}s, plan {pl:.2f}s ({pl/st:.2f}x)", flush=True)
