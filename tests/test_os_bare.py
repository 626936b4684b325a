"""The bare-metal OS port (vfs/os/bare.c: one task, no scheduler), compiled on the host with the
host's clock as its clock hook and exercised by tests/c/test_os_bare.c: primitives that can never succeed in a
single task report WALKIT_OS_DEADLOCK instead of hanging or spinning a timeout out, and SQLite
(mutexes, WAL with the heap WAL-index) runs on it."""

from __future__ import annotations

from pathlib import Path

from c_checks import run_checks
from walkit.native.build import build_program

HERE = Path(__file__).parent

EXPECTED = """
mutex_lock mutex_relock_is_deadlock mutex_trylock_held_busy mutex_unlock
mutex_unlock_free_is_error sem_forever_empty_is_deadlock sem_timeout_empty_is_deadlock_at_once
sem_no_wait_empty_is_timeout sem_give_then_take
walkit_init_without_clock_fails clock_hook_required clock_hook walkit_init
double_enter_reported recursive_reenter_ok register wal_write
wal_second_connection_reads no_other_os_errors
""".split()


def test_bare_port_on_host() -> None:
    program = build_program("test_os_bare", [HERE / "c" / "test_os_bare.c"], port=None)
    run_checks(program, EXPECTED, timeout=60)
