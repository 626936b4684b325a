"""ThreadSanitizer's canary: TSan must catch a planted race with this toolchain, or a clean
run under it proves nothing.  ``tsan_canary(folder)`` builds and runs the race and asserts the
report; test modules wrap it in a module-scoped fixture."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def tsan_canary(folder: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    (folder / "race.c").write_text(
        "#include <pthread.h>\nstatic int shared;\n"
        "static void *bump(void *p) { (void)p; shared++; return 0; }\n"
        "int main(void) { pthread_t a, b; pthread_create(&a, 0, bump, 0);"
        " pthread_create(&b, 0, bump, 0); pthread_join(a, 0); pthread_join(b, 0);"
        " return shared == 0; }\n")
    subprocess.run([cc, "-fsanitize=thread", "-g", "-O1", str(folder / "race.c"), "-o",
                    str(folder / "race"), "-lpthread"], check=True)
    r = subprocess.run([str(folder / "race")], capture_output=True, text=True,
                       env={"TSAN_OPTIONS": "exitcode=66"})
    assert "WARNING: ThreadSanitizer: data race" in r.stderr and r.returncode == 66, r.stderr
