"""The VxWorks OS port (vfs/os/vxworks.c), compiled on the host against the VxWorks emulation in
tests/vxworks_emulation/ and exercised by the C unit tests in tests/c/test_os_vxworks.c: mutex
ownership and priority-safe options, semaphore timeouts (S_objLib_OBJ_TIMEOUT), deleted
semaphores, semMCreate failures surfacing as NULL / SQLITE_NOMEM, SQLite's recursive mutexes on
the port, and a concurrent WAL workload across emulated tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from c_checks import run_checks
from walkit.native.build import build_program

HERE = Path(__file__).parent
EMULATION = HERE / "vxworks_emulation"

# Every check the C program must report "ok": a check that disappears is a failure too.
EXPECTED = """
walkit_init mutex_create mutex_lock mutex_relock_by_owner_is_deadlock
mutex_trylock_by_owner_is_busy mutex_trylock_other_task_busy mutex_unlock
mutex_blocks_other_task_until_unlock mutex_trylock_other_task_after_unlock
mutex_unlock_not_held_is_error mutex_lock_deleted_is_error
sem_create sem_take_timeout sem_take_timeout_duration sem_take_no_wait_empty sem_give_remembered
sem_binary_not_counting sem_give_wakes_waiter sem_deleted_while_pending_is_error
sem_take_deleted_is_error sem_give_deleted_is_error
mutex_create_fails_cleanly sem_create_fails_cleanly sqlite3_mutex_alloc_fails_cleanly
register_semMCreate_failure_is_nomem register_failure_leaks_no_semaphore register_after_failure
unregister recursive_try_by_owner recursive_try_other_task_busy
recursive_still_held_after_two_of_three_leaves recursive_free_after_last_leave
static_mutex_same_object static_mutex_excludes_other_task
failed_enter_is_not_ownership failed_enter_and_its_leave_reported free_after_failed_enter
sleep_rounds_up_to_a_tick sleep_50ms wall_clock task_id_nonzero
register_ram wal_setup wal_writers_ok wal_rows_and_integrity no_os_errors unregister_vx
""".split()


@pytest.fixture(scope="module")
def program() -> Path:
    return build_program("test_os_vxworks",
                         [HERE / "c" / "test_os_vxworks.c", EMULATION / "vxemu.c"],
                         port=None, include_dirs=[EMULATION])


def test_vxworks_port_on_emulation(program: Path) -> None:
    run_checks(program, EXPECTED, timeout=120)
