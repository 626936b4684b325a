"""The walkit file layer (issue 3) called directly through sqlite3_vfs/sqlite3_io_methods on
every storage backend (ram, littlefs on a RAM block device, hostfile): path normalisation,
create/exclusive/missing opens, zero-filled short reads, visibility across handles before sync,
truncate, delete (NOENT), delete-on-close, the five-level file lock between handles, honest
sector size and device characteristics, ENOSPC on littlefs surfacing as SQLITE_FULL, API
misuse.  The C program is tests/c/test_vfs_file.c."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from c_checks import run_checks
from walkit.native.build import CC, build_program, common_flags, vfs_dir

HERE = Path(__file__).parent

PER_BACKEND = """
register fullpath_relative fullpath_slashes fullpath_above_root fullpath_too_long
open_missing_without_create open_create open_exclusive_existing sector_size
device_characteristics write_past_end gap_reads_zero short_read read_beyond_end
second_handle_sees_unsynced_writes sync truncate_seen_by_other_handle
readonly_handle_write_is_readonly access_exists delete access_after_delete delete_missing
delete_on_close anonymous_temp_file access_directory_is_not_a_file shared_shared reserved
second_reserved_busy check_reserved_seen_by_other exclusive_with_reader_busy pending_state
pending_blocks_new_reader other_file_independent exclusive_after_reader_left
exclusive_blocks_reader reader_after_downgrade no_reserved_after_downgrade
reserved_after_downgrade close_releases_reserved randomness_differs current_time sleep
unregister_busy unregister
""".split()
EXPECTED = [f"{b}.{c}" for b in ("ram", "littlefs", "hostfile") for c in PER_BACKEND] + [
    "littlefs.sqlite_setup", "littlefs.enospc_is_sqlite_full", "littlefs.intact_after_full",
    "littlefs.second_backend_on_one_lfs_refused", "littlefs.close_after_failed_write_commits",
    "littlefs.close_reports_failed_commit", "littlefs.rollback_full_is_sqlite_full",
    "littlefs.rollback_full_still_readable", "littlefs.rollback_full_small_row",
    "littlefs.rollback_full_intact_after_remount",
] + [f"api.{c}" for c in """
register_without_storage register_null register_copy_mode_not_yet register_ok
register_duplicate_name unregister_unknown unregister_not_walkit hostfile_missing_root
nostorage_vfs_cantopen memory_db_without_storage
names_on_one_storage_register names_share_file_locks names_share_exclusive names_share_wal_index
noshm_exclusive_excludes_heap_name names_on_one_storage_unregister
same_task_setlk_forever_is_busy same_task_busy_timeout_is_busy_at_once same_task_never_waits
same_task_writes_after_release
register_default default_survives_reinit nostorage_after_reinit open_after_reinit
nostorage_default_again""".split()]


def test_file_layer_on_every_backend(tmp_path):
    program = build_program("test_vfs_file", [HERE / "c" / "test_vfs_file.c"])
    run_checks(program, EXPECTED, [str(tmp_path)], timeout=120)
    assert not list(tmp_path.iterdir()), "every test file was deleted"


@pytest.mark.parametrize("value, refused", [("1", False), ("2", True), ("0", True)])
def test_setlk_timeout_protocol_other_than_1_is_refused(value, refused):
    """walkit implements SQLITE_ENABLE_SETLK_TIMEOUT=1 (a timed wait, SQLITE_BUSY_TIMEOUT);
    the config header refuses any other value at compile time."""
    r = subprocess.run([CC, "-fsyntax-only", *common_flags(), f"-DSQLITE_ENABLE_SETLK_TIMEOUT={value}",
                        str(vfs_dir() / "shm" / "registry.c")], capture_output=True, text=True)
    assert (r.returncode != 0) == refused, r.stderr
    assert ("SQLITE_ENABLE_SETLK_TIMEOUT=1 only" in r.stderr) == refused, r.stderr
