"""Helpers of scripts/bench_issue10.py for the rows that need more than the
release binary: the peers (`sqlx migrate`, `refinery migrate`) fed the same
SQL as our step files, a PostgreSQL server, and a git history for `verify
--apply`. Imported by bench_issue10.py; nothing runs on import.

- Peers are looked up in `--peers-bin DIR`, then PATH, then ~/.cargo/bin.
  Each gets its migrations generated from the step files of a tree, one file
  per step, in the order `consolidate` runs them, with the step's SQL byte
  for byte (sqlx: `<n>_<component>_<name>.sql`, refinery:
  `V<n>__<component>_<name>.sql`; names with `-` get `_`). Both run each
  migration in its own transaction with its history row (sqlx: unless the
  file says `-- no-transaction`, none does; refinery: unless `--grouped`,
  not passed), as `apply` runs a step with its ledger row.
- PostgreSQL: a URL given (`--pg-url`, or CONSOLIDATE_TEST_POSTGRES_URL), or
  a throw-away server started by sourcing scripts/ci-postgres.sh in a bash
  that lives as long as the benchmark (it stops the server and deletes its
  folder when its stdin closes, also when the benchmark is killed).
"""
import hashlib
import os
import re
import sqlite3
import shutil
import subprocess
import sys
import urllib.parse

SQLITE_GUARANTEES = {
    # What each tool asks of SQLite when it opens the database (from its
    # source); the journal mode is also read back from the file after the run.
    "consolidate": "WAL, synchronous = FULL (set on open: upgrade-core site/ledger/sqlite.rs)",
    "sqlx": "journal mode left as the file has it (not set by sqlx-sqlite 0.9 unless asked), "
            "synchronous left at SQLite's default FULL",
    "refinery": "rusqlite's defaults: journal mode left as the file has it, synchronous FULL "
                "(SQLite's default; refinery sets no pragma)",
}

PG_TRANSACTIONS = (
    "each tool runs a step in one transaction with its history row: consolidate (BEGIN, the step, "
    "the ledger row, COMMIT), psql floor (the same statements), sqlx (the same, then an UPDATE of "
    "execution_time in a second transaction), refinery (BEGIN, the migration and its history row "
    "as simple queries, COMMIT)")


def find_peer(name, peers_bin):
    """The path of the peer's executable, or None."""
    if peers_bin:
        p = os.path.join(peers_bin, name)
        if os.access(p, os.X_OK):
            return p
    found = shutil.which(name)
    if found:
        return found
    p = os.path.expanduser(f"~/.cargo/bin/{name}")
    return p if os.access(p, os.X_OK) else None


def step_files(tree_root):
    """(component, step name, path) of every standalone step of a tree made
    by bench_issue10.tree(), sorted by name then component (the plan order
    of dated standalone steps without requirements)."""
    folders = [("lib", "core")]
    if os.path.isdir(f"{tree_root}/local"):
        folders += [(f"local/{p}", "local_" + p) for p in sorted(os.listdir(f"{tree_root}/local"))]
    out = []
    for folder, comp in folders:
        d = f"{tree_root}/{folder}/db/upgrades"
        if os.path.isdir(d):
            out.extend((comp, f[:-4], os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".sql"))
    out.sort(key=lambda s: (s[1], s[0]))
    return out


def migration_folders(steps, out, which=("sqlx", "refinery")):
    """Writes `out/<peer>` for each peer of `which` from `steps`
    (step_files()): one migration per step, numbered 1.. in plan order, the
    step file itself (hard-linked). Returns {peer: folder}."""
    pattern = {"sqlx": "{i}_{slug}.sql", "refinery": "V{i}__{slug}.sql"}
    folders = {peer: f"{out}/{peer}" for peer in which}
    for folder in folders.values():
        os.makedirs(folder)
    for i, (comp, name, path) in enumerate(steps, 1):
        slug = re.sub(r"[^A-Za-z0-9_]", "_", f"{comp}_{name}")
        for peer, folder in folders.items():
            # A hard link: the same bytes, and no second write of 100,000
            # files on a slow disk (a copy where links are not possible).
            target = f"{folder}/" + pattern[peer].format(i=i, slug=slug)
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
    return folders


def refinery_config(path, db):
    """Writes a refinery.toml for `db` (a SQLite path or a postgres:// URL)."""
    if db.startswith("postgres://"):
        u = urllib.parse.urlparse(db)
        text = (f'[main]\ndb_type = "Postgres"\ndb_host = "{u.hostname}"\ndb_port = "{u.port or 5432}"\n'
                f'db_user = "{u.username}"\ndb_pass = "{u.password or ""}"\ndb_name = "{u.path.lstrip("/")}"\n')
    else:
        text = f'[main]\ndb_type = "Sqlite"\ndb_path = "{db}"\n'
    with open(path, "w") as f:
        f.write(text)
    return path


def sqlx_url(db):
    return db if db.startswith("postgres://") else f"sqlite://{db}"


def peer_apply_cmd(peer, exe, folder, db, work):
    """The command that applies every migration of `folder` to `db`."""
    if peer == "sqlx":
        return [exe, "migrate", "run", "--no-dotenv", "--source", folder, "--database-url", sqlx_url(db)]
    cfg = refinery_config(f"{work}/refinery-{abs(hash(db))}.toml", db)
    return [exe, "migrate", "-c", cfg, "-p", folder]


def with_database(url, name):
    """`url` with its database name replaced by `name`."""
    u = urllib.parse.urlparse(url)
    return urllib.parse.urlunparse(u._replace(path="/" + name))


def psql(url, *sql, file=None, quiet=True):
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
    for s in sql:
        cmd += ["-c", s]
    if file:
        cmd += ["-f", file]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"psql {' '.join(sql) or file} exited {r.returncode}: {r.stderr[-400:]}")
    return r.stdout


def psql_value(url, sql):
    r = subprocess.run(["psql", "-X", "-At", "-d", url, "-c", sql], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "?"


class Postgres:
    """A PostgreSQL server for the benchmark: `url` is None when there is
    none (`why` says why)."""

    def __init__(self, root, url=None, start=True):
        self.proc = None
        self.url = url or os.environ.get("CONSOLIDATE_TEST_POSTGRES_URL")
        self.why = ""
        if self.url:
            self.origin = "given URL"
        elif not start:
            self.why = "no PostgreSQL: --no-pg"
        elif not shutil.which("psql") or not any(
                os.access(f"/usr/lib/postgresql/{v}/bin/initdb", os.X_OK)
                for v in (os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql") else [])):
            self.why = "no PostgreSQL: not installed (give --pg-url URL)"
        else:
            self.proc = subprocess.Popen(
                ["bash", "-c", '. scripts/ci-postgres.sh >&2 && echo "$CONSOLIDATE_TEST_POSTGRES_URL" && read -r _'],
                cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline().strip()
            if line.startswith("postgres://"):
                self.url = line
                self.origin = "started by scripts/ci-postgres.sh"
            else:
                err = self.proc.stderr.read()[-300:] if self.proc.poll() is not None else ""
                self.why = f"no PostgreSQL: scripts/ci-postgres.sh did not start a server {err}".strip()
                self.stop()

    def settings(self):
        return ", ".join(f"{k} = {psql_value(self.url, 'SHOW ' + k)}"
                         for k in ("fsync", "synchronous_commit", "full_page_writes"))

    def stop(self):
        if self.proc:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.wait(timeout=120)
            self.proc = None


def git(args, cwd):
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"git {' '.join(args)} in {cwd} exited {r.returncode}: {r.stderr[-400:]}")
    return r.stdout


def history(path, binary, steps, releases, comps=14, commits=10):
    """A git repository at `path` whose history adds `steps` step files to
    `comps` components in `releases` + 1 equal parts, each part in `commits`
    commits; after each of the first `releases` parts, [project] version is
    raised (one commit) and `consolidate release R<k> --commit --tag` folds
    the part (a consolidation commit); the last part stays standalone.
    Steps create a table per component, then insert rows, add columns and
    indexes, so that `verify --apply` compares real schemas."""
    os.makedirs(path)
    git(["init", "-q", "-b", "main"], path)
    git(["config", "user.name", "bench"], path)
    git(["config", "user.email", "bench@example.invalid"], path)
    git(["config", "commit.gpgsign", "false"], path)
    manifest = f"{path}/upgrade.toml"
    with open(manifest, "w") as f:
        f.write('[project]\nname = "h"\nversion = "2001010100.00"\nrevision = 1\n\n'
                '[components]\ncore = "lib"\nplugin_types = [\n  { name = "local", folder = "local" },\n]\n')
    git(["add", "-A"], path)
    git(["commit", "-q", "-m", "tree"], path)
    names = [("lib", 0)] + [(f"local/p{i:03d}", i + 1) for i in range(comps - 1)]
    made = [0] * comps
    total = 0
    for part in range(releases + 1):
        size = steps // (releases + 1) + (1 if part < steps % (releases + 1) else 0)
        for c in range(commits):
            for _ in range(size // commits + (1 if c < size % commits else 0)):
                ci = total % comps
                s, total = made[ci], total + 1
                made[ci] += 1
                folder = names[ci][0]
                d = f"{path}/{folder}/db/upgrades"
                os.makedirs(d, exist_ok=True)
                y, m, day = 2001 + s // 336, 1 + (s // 28) % 12, 1 + s % 28
                t = f"t{ci}"
                if s == 0:
                    sql = f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT);\n"
                elif s % 10 == 5:
                    sql = f"ALTER TABLE {t} ADD COLUMN c{s} TEXT;\n"
                elif s % 10 == 7:
                    sql = f"CREATE INDEX i{ci}_{s} ON {t} (v);\n"
                else:
                    sql = f"INSERT INTO {t} (v) VALUES ('s{s}');\n"
                with open(f"{d}/{y:04d}{m:02d}{day:02d}{ci % 100:02d}-c{ci}s{s}.sql", "w") as f:
                    f.write(sql)
            git(["add", "-A"], path)
            git(["commit", "-q", "-m", f"steps {part}.{c}"], path)
        if part < releases:
            with open(manifest) as f:
                text = f.read()
            with open(manifest, "w") as f:
                f.write(re.sub(r'(?m)^version = "[^"]*"', f'version = "{2001010101 + part}.00"', text, count=1))
            git(["commit", "-q", "-a", "-m", f"version for R{part + 1}"], path)
            r = subprocess.run([binary, "release", f"R{part + 1}", "--commit", "--tag"], cwd=path,
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"consolidate release R{part + 1} --commit --tag exited {r.returncode}: {r.stderr[-400:]}")


def fs_type(path):
    """The file system type of the mount holding `path` (from /proc/mounts)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mount = parts[1]
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                    best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


SQLX_TABLE = """CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)"""


def sqlx_history(db, folder):
    """Records every migration of `folder` as applied in `db`'s
    `_sqlx_migrations`, as `sqlx migrate run` does (sqlx-sqlite 0.9's table,
    checksum the SHA-384 of the file), without running them: `sqlx migrate
    info` then reads the history of a site with every migration applied,
    and the benchmark saves `sqlx migrate run` of 100,000 files. The caller
    checks that `info` reports each as installed with its checksum."""
    rows = []
    for f in os.listdir(folder):
        version, _, description = f[:-4].partition("_")
        with open(os.path.join(folder, f), "rb") as fh:
            digest = hashlib.sha384(fh.read()).digest()
        rows.append((int(version), description.replace("_", " "), digest))
    c = sqlite3.connect(db)
    c.execute(SQLX_TABLE)
    c.executemany("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
                  "VALUES (?, ?, TRUE, ?, 1000)", rows)
    c.commit()
    c.close()
