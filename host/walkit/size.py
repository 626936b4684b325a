"""``walkit size``: text/data/bss per component of a linked image, the stack and heap it
reserves, and what a short run used of them.

Sizes come from the linker map (every input section with its size and the object it came from),
so the attribution is exact; the stack and heap are the ``__stack_size``/``__heap_size`` symbols
of the image (set from board.toml), or the board's values for a native board where the OS
provides both.  What was used comes from booting the firmware and running RUN_WORKLOAD, then
reading the console's ``.stats`` (heap.used, stack.used_max, sqlite.memory_highwater).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import WalkitError
from .elf import read_elves

COMPONENTS = ("SQLite", "walkit VFS", "littlefs", "firmware", "libc/libgcc", "other")

_IN_SECTION = re.compile(r"^ (\S+)?\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_OUT_SECTION = re.compile(r"^(\.?\S+)(?:\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+))?\s*$")


def component_of(path: str) -> str:
    p = path.replace("\\", "/")
    if "walkit_sqlite" in p or "sqlite3.c" in p:
        return "SQLite"
    if "walkit_littlefs" in p or re.search(r"/lfs(_util)?\.c", p):
        return "littlefs"
    if "walkit_vfs" in p or "/vfs/" in p:
        return "walkit VFS"
    if "walkit_board" in p or "/boards/" in p or "/firmware/" in p or "CMakeFiles/walkit-" in p:
        return "firmware"
    if re.search(r"lib(c|g|c_nano|g_nano|gcc|nosys|m|m_nano|pthread)\.(a|so)|crt\w*\.o|ld-linux|libc\.so", p):
        return "libc/libgcc"
    return "other"


def kind_of(out_section: str) -> str | None:
    """text (code and constants, in flash on an XIP board), data (initialised RAM), bss."""
    s = out_section
    if s.startswith((".text", ".rodata", ".init", ".fini", ".preinit", ".eh_frame", ".ARM.ex",
                     ".plt", ".gcc_except", ".vectors")):
        return "text"
    if s.startswith((".data", ".got", ".dynamic", ".tdata")):
        return "data"
    if s.startswith((".bss", ".tbss")):
        return "bss"
    return None  # .heap/.stack reservations, debug info, symbol tables


@dataclass
class SizeReport:
    image: Path
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    stack: int | None = None
    heap: int | None = None
    reserved_from: str = ""
    run: dict | None = None  # measure_run()'s figures, when a run was made

    def totals(self) -> dict[str, int]:
        tot = {"text": 0, "data": 0, "bss": 0}
        for r in self.rows.values():
            for k in tot:
                tot[k] += r[k]
        return tot

    def as_json(self, board: str) -> dict:
        return {
            "image": str(self.image),
            "board": board,
            "components": {c: {**r, "total": sum(r.values())} for c in COMPONENTS
                           if (r := self.rows.get(c))},
            "total": {**self.totals(), "total": sum(self.totals().values())},
            "reserved": {"stack": self.stack, "heap": self.heap, "from": self.reserved_from},
            "run": self.run,
        }

    def add(self, comp: str, kind: str, n: int) -> None:
        row = self.rows.setdefault(comp, {"text": 0, "data": 0, "bss": 0})
        row[kind] += n

    def render(self) -> str:
        lines = [f"{'component':<14}{'text':>10}{'data':>10}{'bss':>10}{'total':>10}"]
        tot = {"text": 0, "data": 0, "bss": 0}
        for comp in COMPONENTS:
            r = self.rows.get(comp)
            if not r:
                continue
            for k in tot:
                tot[k] += r[k]
            lines.append(f"{comp:<14}{r['text']:>10}{r['data']:>10}{r['bss']:>10}{sum(r.values()):>10}")
        lines.append(f"{'total':<14}{tot['text']:>10}{tot['data']:>10}{tot['bss']:>10}{sum(tot.values()):>10}")
        if self.stack is not None or self.heap is not None:
            lines.append(f"reserved: stack {self.stack} bytes, heap {self.heap} bytes ({self.reserved_from})")
        if self.run:
            r = self.run
            heap = (f"heap {r['heap_used']} of {r['heap_size']} bytes" if r["heap_size"]
                    else "heap: not measured (the host OS provides it)")
            stack = (f"stack {r['stack_used_max']} of {r['stack_size']} bytes" if r["stack_size"]
                     else "stack: not measured (the host OS provides it)")
            lines.append(f"used by a run ({r['workload']}): {heap}, {stack}, SQLite memory "
                         f"high-water {r['sqlite_memory_highwater']} bytes")
        return "\n".join(lines)


def parse_map(map_file: Path, report: SizeReport) -> None:
    text = map_file.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    if start < 0:
        raise WalkitError(f"{map_file}: not a GNU ld map file (no memory map section)")
    out_kind: str | None = None
    pending: str | None = None  # an input section name whose numbers are on the next line
    for line in text[start:].splitlines()[1:]:
        if line.startswith("Cross Reference Table"):
            break
        if line and not line[0].isspace():
            m = _OUT_SECTION.match(line)
            out_kind = kind_of(m.group(1)) if m else None
            pending = None
            continue
        if out_kind is None:
            continue
        m = _IN_SECTION.match(line)
        if m:
            name, size, src = m.group(1) or pending, int(m.group(3), 16), m.group(4).strip()
            pending = None
            if name is None or size == 0:
                continue
            comp = "other" if name == "*fill*" else component_of(src)
            report.add(comp, out_kind, size)
        elif re.match(r"^ (\.\S+|COMMON)\s*$", line):
            pending = line.strip()
        else:
            pending = None


def report(elf: Path, map_file: Path | None = None, board=None) -> SizeReport:
    elf = Path(elf)
    map_file = Path(map_file) if map_file else elf.with_suffix(".map") if elf.suffix else Path(str(elf) + ".map")
    if not elf.is_file():
        raise WalkitError(f"{elf}: no such image (build it with `walkit build`)")
    if not map_file.is_file():
        raise WalkitError(f"{map_file}: no linker map beside the image (link with -Wl,-Map=...)")
    rep = SizeReport(elf)
    parse_map(map_file, rep)
    syms = {s.name: s.value for e in read_elves(elf) for s in e.symbols
            if s.name in ("__stack_size", "__heap_size")}
    if syms:
        rep.stack, rep.heap = syms.get("__stack_size"), syms.get("__heap_size")
        rep.reserved_from = "linker symbols __stack_size/__heap_size"
    elif board is not None:
        rep.stack, rep.heap = board.stack_size, board.heap_size
        rep.reserved_from = f"board.toml of {board.name}: provided by the host OS, not the image"
    return rep


RUN_ROWS = 2000
RUN_WORKLOAD = (f"2 connections in WAL mode, {RUN_ROWS} rows of 100 bytes inserted, read back, "
                "checkpointed")


def measure_run(board: str, image: Path) -> dict:
    """Boots the firmware on a blank flash, runs RUN_WORKLOAD and returns what ``.stats`` says
    was used (heap and stack sizes 0: the host OS provides them, nothing measured)."""
    import tempfile

    from .target import Target

    with tempfile.TemporaryDirectory(prefix="walkit-size-") as d:
        t = Target(board, image=image, flash=Path(d) / "flash.img", workdir=Path(d))
        try:
            t.boot()
            c = t.console
            c.open("a", "/size.db")
            c.open("b", "/size.db")
            c.sql("a", "PRAGMA journal_mode=WAL")
            c.sql("a", "CREATE TABLE t(x INTEGER PRIMARY KEY, y TEXT)")
            c.sql("a", "INSERT INTO t(y) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                       "FROM c WHERE i < ?) SELECT printf('%0100d', i) FROM c", (RUN_ROWS,))
            c.sql("b", "SELECT count(*), max(y) FROM t")
            c.sql("b", "PRAGMA wal_checkpoint(TRUNCATE)")
            st = c.stats()
        finally:
            t.close()
    return {"workload": RUN_WORKLOAD, "heap_used": st["heap.used"], "heap_size": st["heap.size"],
            "stack_used_max": st["stack.used_max"], "stack_size": st["stack.size"],
            "sqlite_memory_highwater": st["sqlite.memory_highwater"]}


def report_for_board(board: str, target: str = "walkit-fw", elf: str | None = None,
                     run: bool = True) -> SizeReport:
    """The report of the board's image (built if missing), or of ``elf``; with ``run`` and the
    firmware image, also what a short run used."""
    from .boards import load_board
    from .build import build, image_path

    b = load_board(board)
    if elf is None:
        path = image_path(board, target)
        if not path.is_file():
            path = build(board, target)
    else:
        path = Path(elf)
    map_file = path.parent / f"{target if elf is None else path.stem}.map"
    rep = report(path, map_file, b)
    if run and elf is None and target == "walkit-fw":
        rep.run = measure_run(board, path)
    return rep
