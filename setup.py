"""Build hook: a regular (non-editable) install records the source tree it was built from, so
the installed plugin and commands can find the firmware sources (walkit.paths.repo_root).
Everything else about the package is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyRecordingTheTree(build_py):
    def run(self):
        super().run()
        out = Path(self.build_lib) / "walkit" / "_source_root.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(str(Path(__file__).resolve().parent) + "\n")


setup(cmdclass={"build_py": BuildPyRecordingTheTree})
