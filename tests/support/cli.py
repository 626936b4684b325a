"""Running ``walkit ...`` in this process, as a user's shell would."""

from __future__ import annotations

from walkit.cli import main as walkit_main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``walkit *argv``; a traceback is never an answer."""
    rc = walkit_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err
