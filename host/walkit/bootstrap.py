"""Bootstrap: everything a fresh Debian machine needs, installed by the project itself.

Idempotent.  The first run installs the Debian packages the selected boards need (and only
those), creates ``.venv`` with the package and its test extras, and fetches the pinned SQLite
amalgamation and littlefs sources with the registries' own clients (``npm pack``,
``pip download``), verifying sha256, into the git-ignored cache.  A second run touches no
network and takes seconds: every step first checks whether its result is already there.

Standard library only: this runs before the virtual environment exists
(``PYTHONPATH=host python3 -m walkit.bootstrap``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import WalkitError
from .paths import cache_dir, repo_root


@dataclass(frozen=True)
class Pinned:
    """A third-party source fetched at build time, never committed.

    ``members`` maps a path inside the registry archive to the file name in the cache; a member
    with a sha256 in ``member_sha256`` is verified again on every run (cheap, and it catches a
    cache edited by hand).
    """

    name: str
    version: str
    client: str  # "npm" or "pip"
    spec: str
    archive: str
    archive_sha256: str
    members: dict[str, str]
    member_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return f"{self.name}-{self.version}"


SQLITE = Pinned(
    name="sqlite",
    version="3.53.2",
    client="npm",
    spec="better-sqlite3@12.11.1",
    archive="better-sqlite3-12.11.1.tgz",
    archive_sha256="ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835",
    members={
        "package/deps/sqlite3/sqlite3.c": "sqlite3.c",
        "package/deps/sqlite3/sqlite3.h": "sqlite3.h",
        "package/deps/sqlite3/sqlite3ext.h": "sqlite3ext.h",
    },
    member_sha256={
        "sqlite3.c": "60d2f39a3726cd6b9021da6f4e868608d66fbb6528a9f513dc8ffcc640493422",
        "sqlite3.h": "9e69a1353a4288450b0d5239ede11fc7f1f4c8e5eb07491fc8317eacb5b7de7e",
    },
)

LITTLEFS = Pinned(
    name="littlefs",
    version="2.11",
    client="pip",
    spec="littlefs-python==0.19.0",
    archive="littlefs_python-0.19.0.tar.gz",
    archive_sha256="4ce8c6eeeb2703abaf8cb60f2dab624b17af42b13df3dbc6c42d4142bad79a59",
    members={
        "littlefs/lfs.c": "lfs.c",
        "littlefs/lfs.h": "lfs.h",
        "littlefs/lfs_util.c": "lfs_util.c",
        "littlefs/lfs_util.h": "lfs_util.h",
    },
    member_sha256={  # littlefs v2.11 (LFS_VERSION 0x0002000b), as vendored by that sdist
        "lfs.c": "a36d6a095785ddea9571d541d68d3e4ef01d5b255a99d17d3f07fb6ea60ea132",
        "lfs.h": "b1befd7288d08815accc8f9af744c55686c0b9e3ac0061c32ceee38a1b3eb96d",
        "lfs_util.c": "f2fbde533670560434bd9f5a547174cc7c5a4670a02c47b4bd85180dced8b2ec",
        "lfs_util.h": "548d46aa524dc7449e16739286c1a422a52f9de727ff0be0c2ffc5593f5ca981",
    },
)

PINNED = {p.name: p for p in (SQLITE, LITTLEFS)}

# Tools every build needs, with the Debian package that provides each.  Checked with `which`
# (not dpkg) because a machine may have them from elsewhere, e.g. a Node.js with its own npm.
# valgrind is for `walkit bench shm` alone (its callgrind instruction counts).
BASE_TOOLS = {"cmake": "cmake", "make": "make", "cc": "gcc", "npm": "npm", "valgrind": "valgrind"}

_NETWORK_HINTS = re.compile(
    r"ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|network|"
    r"Connection refused|Failed to establish|Max retries|Name or service not known|"
    r"Temporary failure in name resolution|timed out",
    re.IGNORECASE,
)


def _error_line(stderr: str, stdout: str) -> str:
    """The line of a failed client's output that says what went wrong: its last line marked as
    an error (pip's "ERROR:", npm's "npm error"/"npm ERR!"), else the last line it printed."""
    lines = [l.strip() for l in (stderr + "\n" + stdout).splitlines() if l.strip()]
    marked = [l for l in lines if l.startswith(("ERROR", "npm error", "npm ERR!"))]
    return (marked or lines or ["no output"])[-1]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _say(msg: str) -> None:
    print(f"bootstrap: {msg}", flush=True)


# --------------------------------------------------------------------------- Debian packages

def missing_debs(packages: list[str]) -> list[str]:
    """The packages of ``packages`` that dpkg does not list as installed."""
    if not packages:
        return []
    if shutil.which("dpkg-query") is None:
        raise WalkitError(
            "dpkg-query not found: walkit's bootstrap needs a Debian-based machine; install by hand: "
            + " ".join(packages)
        )
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n", *packages],
        capture_output=True, text=True,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}
    return [p for p in packages if p not in installed]


def apt_command(packages: list[str]) -> str:
    return "apt-get update && apt-get install -y --no-install-recommends " + " ".join(packages)


def ensure_debs(packages: list[str], *, is_root: bool | None = None) -> list[str]:
    """Install the missing ones; returns what was installed.  Not root: a one-line error with
    the apt command to run."""
    missing = missing_debs(packages)
    if not missing:
        return []
    if is_root is None:
        is_root = os.geteuid() == 0
    if not is_root:
        raise WalkitError(
            f"need root to install {' '.join(missing)}; run: sudo sh -c '{apt_command(missing)}'"
        )
    _say("installing Debian packages: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
            raise WalkitError(f"`{' '.join(cmd)}` failed (exit {r.returncode}): {tail[0]}")
    return missing


def ensure_tools(tools: dict[str, str], *, is_root: bool | None = None) -> None:
    missing = {t: p for t, p in tools.items() if shutil.which(t) is None}
    if missing:
        ensure_debs(sorted(set(missing.values())), is_root=is_root)


def require_tool(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise WalkitError(f"{tool} not found: install it with `apt-get install -y {package}`")
    return path


# --------------------------------------------------------------------------- pinned sources

def _download(p: Pinned, into: Path) -> Path:
    """Fetch the archive with the registry's own client into ``into``; returns its path."""
    if p.client == "npm":
        npm = require_tool("npm", "npm")
        cmd = [npm, "pack", p.spec, "--ignore-scripts", "--pack-destination", str(into)]
    elif p.client == "pip":
        # The venv's pip: Debian's own python3 comes without pip (python3-pip is separate).
        venv_py = venv_dir() / "bin" / "python"
        py = str(venv_py) if venv_py.exists() else sys.executable
        cmd = [py, "-m", "pip", "download", "--no-deps", "--no-binary",
               p.spec.split("==")[0], p.spec, "-d", str(into), "--disable-pip-version-check"]
    else:  # pragma: no cover - table above is closed
        raise WalkitError(f"unknown registry client {p.client}")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=into, timeout=600)
    except subprocess.TimeoutExpired:
        raise WalkitError(f"cannot fetch {p.spec}: `{' '.join(cmd[:3])} ...` got no answer in "
                          f"600 s: is the {p.client} registry reachable?") from None
    if r.returncode != 0:
        text = (r.stderr + r.stdout).strip()
        last = _error_line(r.stderr, r.stdout)
        if _NETWORK_HINTS.search(text):
            raise WalkitError(
                f"cannot fetch {p.spec}: the {p.client} registry is not reachable ({last})"
            )
        raise WalkitError(f"cannot fetch {p.spec}: `{' '.join(cmd[:3])} ...` failed: {last}")
    got = [f for f in into.iterdir() if f.is_file()]
    if len(got) != 1:
        raise WalkitError(f"cannot fetch {p.spec}: expected one archive, got {[f.name for f in got]}")
    return got[0]


def _verify(path: Path, expected: str, what: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise WalkitError(f"sha256 mismatch for {what}: expected {expected}, got {got}")


def _extract(p: Pinned, archive: Path, dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.dest}-", dir=dest.parent))
    try:
        with tarfile.open(archive) as tar:
            names = {}
            for m in tar.getmembers():
                for suffix, out in p.members.items():
                    # sdists put everything under one top folder (its spelling varies between
                    # tools), so a member may sit one level below the pinned path, not deeper:
                    # littlefs-python also has a Cython-generated src/littlefs/lfs.c.
                    if m.isfile() and (m.name == suffix or m.name.split("/", 1)[1:] == [suffix]):
                        names[out] = m
            lost = sorted(set(p.members.values()) - set(names))
            if lost:
                raise WalkitError(f"{archive.name} lacks {', '.join(lost)}")
            for out, m in names.items():
                src = tar.extractfile(m)
                assert src is not None
                (tmp / out).write_bytes(src.read())
        for out, digest in p.member_sha256.items():
            _verify(tmp / out, digest, f"{out} from {archive.name}")
        (tmp / "PINNED").write_text(f"{p.spec} {p.archive_sha256}\n")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def fetch(p: Pinned, cache: Path | None = None) -> Path:
    """Make ``<cache>/src/<name>-<version>/`` hold the pinned files; returns that folder.

    Cached and verified: no network.  Archive in the download cache: verified, then extracted.
    Otherwise downloaded with the registry client first.  A file that fails its hash is
    deleted so that the next run fetches it again, and the error names expected and got.
    """
    cache = cache or cache_dir()
    dest = cache / "src" / p.dest
    stamp = dest / "PINNED"
    if stamp.is_file() and stamp.read_text().split()[1:2] == [p.archive_sha256] and all(
        (dest / f).is_file() for f in p.members.values()
    ):
        try:
            for out, digest in p.member_sha256.items():
                _verify(dest / out, digest, f"cached {dest / out}")
            return dest
        except WalkitError:
            shutil.rmtree(dest)  # cache edited or damaged: fetch again below
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / p.archive
    if not archive.is_file():
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            got = _download(p, Path(tmp))
            got.replace(archive)
    try:
        _verify(archive, p.archive_sha256, archive.name)
    except WalkitError:
        archive.unlink()
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    _extract(p, archive, dest)
    return dest


def sqlite_version_of(header_or_source: Path) -> str | None:
    with open(header_or_source, "r", errors="replace") as f:
        for line in f:
            m = re.match(r'#define SQLITE_VERSION\s+"([^"]+)"', line)
            if m:
                return m.group(1)
    return None


@dataclass(frozen=True)
class SqliteSource:
    """The amalgamation a build uses: the pinned one, or the user's own."""

    dir: Path
    version: str
    sha256: str
    origin: str  # "pinned" or "WALKIT_SQLITE_SRC"

    def describe(self) -> str:
        return (f"SQLite {self.version} ({self.origin}) from {self.dir / 'sqlite3.c'} "
                f"sha256 {self.sha256}")


def sqlite_source(override: str | None = None, cache: Path | None = None) -> SqliteSource:
    """``override`` (or ``WALKIT_SQLITE_SRC``): a sqlite3.c or the folder holding it, with
    sqlite3.h beside it.  Otherwise the pinned amalgamation (fetched if needed)."""
    override = override if override is not None else os.environ.get("WALKIT_SQLITE_SRC")
    if override:
        path = Path(override).expanduser().absolute()
        src = path if path.name == "sqlite3.c" else path / "sqlite3.c"
        if not src.is_file():
            raise WalkitError(f"WALKIT_SQLITE_SRC={override}: no sqlite3.c there")
        if not (src.parent / "sqlite3.h").is_file():
            raise WalkitError(f"WALKIT_SQLITE_SRC={override}: sqlite3.h missing beside {src}")
        version = sqlite_version_of(src.parent / "sqlite3.h")
        if version is None:
            raise WalkitError(f"WALKIT_SQLITE_SRC={override}: {src.parent / 'sqlite3.h'} "
                              "has no SQLITE_VERSION: is it an amalgamation?")
        return SqliteSource(src.parent, version, sha256_file(src), "WALKIT_SQLITE_SRC")
    d = fetch(SQLITE, cache)
    return SqliteSource(d, SQLITE.version, SQLITE.member_sha256["sqlite3.c"], "pinned")


# --------------------------------------------------------------------------- virtual environment

def venv_dir() -> Path:
    return repo_root() / ".venv"


def ensure_venv() -> Path:
    """``.venv`` with ``walkit[test]`` installed editable; re-installed when pyproject changes."""
    root = repo_root()
    venv = venv_dir()
    py = venv / "bin" / "python"
    stamp = venv / ".walkit-pyproject-sha256"
    want = sha256_file(root / "pyproject.toml")
    if py.exists() and stamp.is_file() and stamp.read_text().strip() == want:
        return venv
    if not py.exists():
        _say(f"creating {venv}")
        cmd = [sys.executable, "-m", "venv", str(venv)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 and "ensurepip" in r.stdout + r.stderr:
            # Debian splits venv support out of python3: install it (root) or say how.
            shutil.rmtree(venv, ignore_errors=True)
            ensure_debs(["python3-venv"])
            r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise WalkitError(f"cannot create {venv}: {_error_line(r.stderr, r.stdout)}")
    _say("installing walkit[test] into .venv (pip)")
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f"{root}[test]"],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        text = (r.stderr + r.stdout).strip()
        last = _error_line(r.stderr, r.stdout)
        if _NETWORK_HINTS.search(text):
            raise WalkitError(f"cannot install walkit's Python packages: PyPI is not reachable ({last})")
        raise WalkitError(f"pip install -e .[test] failed: {last}")
    stamp.write_text(want + "\n")
    return venv


# --------------------------------------------------------------------------- entry point

def run(boards: list[str], *, venv: bool = True) -> None:
    from .boards import board_names, load_board

    if "all" in boards:
        boards = board_names()
    packages: list[str] = []
    for name in boards:
        for pkg in load_board(name).apt:
            if pkg not in packages:
                packages.append(pkg)
    ensure_tools(BASE_TOOLS)
    installed = ensure_debs(packages)
    _say(f"Debian packages ok ({len(packages)} for {', '.join(boards)}"
         + (f"; installed {' '.join(installed)})" if installed else ")"))
    if venv:
        ensure_venv()
        _say("Python environment ok (.venv)")
    for p in PINNED.values():
        d = fetch(p)
        _say(f"{p.name} {p.version} ok ({d})")
    src = sqlite_source()
    if src.origin != "pinned":
        _say("using " + src.describe())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="walkit-bootstrap", description=__doc__.splitlines()[0])
    ap.add_argument("--boards", default="host-sim,qemu-virt-a15",
                    help="comma-separated boards whose packages to install, or 'all'")
    ap.add_argument("--no-venv", action="store_true", help="skip the virtual environment")
    ap.add_argument("--print-sources", action="store_true",
                    help="fetch if needed, then print three lines for CMake: the SQLite folder, "
                         "a description of it (version, origin, sha256), the littlefs folder")
    args = ap.parse_args(argv)
    try:
        if args.print_sources:
            src = sqlite_source()
            print(src.dir, src.describe(), fetch(LITTLEFS), sep="\n")
            return 0
        run([b for b in args.boards.split(",") if b], venv=not args.no_venv)
    except WalkitError as e:
        print(f"walkit: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
