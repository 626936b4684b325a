"""walkit.image.flash: blank and formatted images of a board's geometry, files in and out (also
as plain littlefs writes them), errors that modify nothing."""

from __future__ import annotations

import os

import littlefs
import pytest

from support.image_helpers import BOARD, sha
from walkit import WalkitError
from walkit.boards import load_board
from walkit.image import copy_image, create_image, open_image


def raw_littlefs(buf: bytearray, board: str) -> littlefs.LittleFS:
    """A littlefs over the board's filesystem region configured directly from board.toml,
    independently of walkit.image (the way the firmware configures it)."""
    f = load_board(board).flash
    region = bytearray(buf[f.fs_offset:f.fs_offset + f.fs_size])
    return littlefs.LittleFS(context=littlefs.UserContext(buffer=region), mount=False,
                             block_size=f.erase_block, block_count=f.fs_size // f.erase_block,
                             read_size=f.read_size, prog_size=f.prog_size)


def test_copy_image_checks_the_size(formatted, tmp_path):
    copy = copy_image(formatted, tmp_path / "copy.img", BOARD)
    assert sha(copy) == sha(formatted)
    with pytest.raises(WalkitError, match="already exists"):
        copy_image(formatted, copy, BOARD)
    with pytest.raises(WalkitError, match=f"needs exactly {load_board('host-sim').flash.size}"):
        copy_image(formatted, tmp_path / "other.img", "host-sim")
    assert not (tmp_path / "other.img").exists()


def test_blank_image_is_erased_flash_of_board_size(tmp_path):
    path = create_image(tmp_path / "blank.img", BOARD)
    data = path.read_bytes()
    assert len(data) == load_board(BOARD).flash.size == 64 << 20
    assert data.count(0xFF) == len(data)
    with pytest.raises(WalkitError, match="blank image"):
        with open_image(path, BOARD):
            pass


@pytest.mark.parametrize("board", ["qemu-virt-a15", "host-sim"])
def test_formatted_image_has_board_geometry(tmp_path, board):
    f = load_board(board).flash
    path = create_image(tmp_path / "f.img", board, format=True)
    data = bytearray(path.read_bytes())
    assert len(data) == f.size
    # Outside the filesystem region the flash stays erased.
    assert data.count(0xFF, 0, f.fs_offset) == f.fs_offset
    assert data.count(0xFF, f.fs_offset + f.fs_size) == f.size - f.fs_offset - f.fs_size
    fs = raw_littlefs(data, board)
    fs.mount()
    assert fs.block_count == f.fs_size // f.erase_block
    assert fs.listdir("/") == []


def test_existing_image_is_never_overwritten_by_create(image):
    before = sha(image)
    with pytest.raises(WalkitError, match="already exists"):
        create_image(image, BOARD)
    assert sha(image) == before


def test_put_get_ls_remove_roundtrip(image):
    payload = os.urandom(300_000)  # larger than a 256 KiB block
    with open_image(image, BOARD, write=True) as img:
        img.write("/db/app.db", payload)
        img.write("small.txt", b"hi")
    with open_image(image, BOARD) as img:
        assert img.read("/db/app.db") == payload
        assert img.read("/small.txt") == b"hi"
        listing = {(e.path, e.size, e.is_dir) for e in img.files()}
        assert listing == {("/db", 0, True), ("/db/app.db", len(payload), False), ("/small.txt", 2, False)}
    with open_image(image, BOARD, write=True) as img:
        img.write("/small.txt", b"replaced")
        img.remove("/db/app.db")
    with open_image(image, BOARD) as img:
        assert img.read("/small.txt") == b"replaced"
        assert not img.exists("/db/app.db")
        assert img.is_dir("/db")


def test_files_written_by_plain_littlefs_are_read(image):
    """An image filled by a littlefs configured only from board.toml (as the firmware mounts
    it) is read by walkit.image, and the reverse."""
    data = bytearray(image.read_bytes())
    fs = raw_littlefs(data, BOARD)
    fs.mount()
    with fs.open("/from-raw.bin", "wb") as fh:
        fh.write(b"\x01" * 5000)
    fs.unmount()
    f = load_board(BOARD).flash
    data[f.fs_offset:f.fs_offset + f.fs_size] = fs.context.buffer
    image.write_bytes(data)
    with open_image(image, BOARD, write=True) as img:
        assert img.read("/from-raw.bin") == b"\x01" * 5000
        img.write("/from-walkit.bin", b"\x02" * 7000)
    fs = raw_littlefs(bytearray(image.read_bytes()), BOARD)
    fs.mount()
    with fs.open("/from-walkit.bin", "rb") as fh:
        assert fh.read() == b"\x02" * 7000


def test_changes_are_discarded_when_the_block_fails(image):
    before = sha(image)
    with pytest.raises(RuntimeError):
        with open_image(image, BOARD, write=True) as img:
            img.write("/x", b"data")
            raise RuntimeError("boom")
    assert sha(image) == before
    with open_image(image, BOARD) as img:
        assert not img.exists("/x")


def test_read_only_open_does_not_touch_the_file(image):
    st = os.stat(image)
    before = sha(image)
    with open_image(image, BOARD) as img:
        img.files()
        with pytest.raises(WalkitError, match="read-only"):
            img.write("/x", b"1")
    assert sha(image) == before
    assert os.stat(image).st_mtime_ns == st.st_mtime_ns


def test_image_changed_on_disk_while_open_is_not_overwritten(image):
    with pytest.raises(WalkitError, match="changed on disk"):
        with open_image(image, BOARD, write=True) as img:
            img.write("/x", b"1")
            with open(image, "r+b") as fh:  # someone else (QEMU) writes meanwhile
                fh.seek(60 << 20)
                fh.write(b"\x00")
    with open(image, "rb") as fh:
        fh.seek(60 << 20)
        assert fh.read(1) == b"\x00"


def test_wrong_size_blank_corrupt_missing_errors_modify_nothing(tmp_path, image):
    short = tmp_path / "short.img"
    short.write_bytes(b"\xff" * 4096)
    blank = create_image(tmp_path / "blank.img", BOARD)
    corrupt = copy_image(image, tmp_path / "corrupt.img")
    with open(corrupt, "r+b") as fh:  # both superblock copies (blocks 0 and 1)
        fh.write(os.urandom(64))
        fh.seek(256 << 10)
        fh.write(os.urandom(64))
    cases = [
        (short, "needs exactly 67108864 bytes"),
        (blank, "blank image"),
        (corrupt, "does not mount"),
        (tmp_path / "absent.img", "no such image"),
    ]
    for path, message in cases:
        before = sha(path) if path.exists() else None
        with pytest.raises(WalkitError, match=message):
            with open_image(path, BOARD, write=True) as img:
                img.write("/x", b"1")
        assert (sha(path) if path.exists() else None) == before
    with open_image(image, BOARD) as img, pytest.raises(WalkitError, match="no such file"):
        img.read("/missing")


def test_other_geometry_is_refused_not_reformatted(tmp_path):
    """littlefs formatted with 4 KiB blocks in a qemu-virt-a15-sized image: refused."""
    f = load_board(BOARD).flash
    region = bytearray(b"\xff" * f.fs_size)
    fs = littlefs.LittleFS(context=littlefs.UserContext(buffer=region), mount=False,
                           block_size=4096, block_count=f.fs_size // 4096)
    fs.format()
    path = tmp_path / "other.img"
    path.write_bytes(bytes(region) + b"\xff" * (f.size - f.fs_size))
    before = sha(path)
    with pytest.raises(WalkitError, match="does not mount.*block size 262144"):
        with open_image(path, BOARD, write=True):
            pass
    assert sha(path) == before


def test_no_space_is_an_error_and_leaves_the_image(tmp_path):
    path = create_image(tmp_path / "s.img", BOARD, format=True)
    before = sha(path)
    with pytest.raises(WalkitError, match="no space"):
        with open_image(path, BOARD, write=True) as img:
            img.write("/big", b"\0" * (17 << 20))
    assert sha(path) == before
