"""Refresh the generated project's lock file, `{{cookiecutter.project_slug}}/uv.lock`.

Run from the template root after changing the generated pyproject.toml's dependencies:
`python scripts/lock.py` (what is already pinned stays pinned; new dependencies get their newest
versions), or `python scripts/lock.py --upgrade` to take new releases of everything. It renders a
project, runs `uv lock` there (this needs the package index), and writes the lock back with the
project's own name replaced by the template variable, so every generated project starts with the
same pins. `tests/test_lock.py` fails when the
lock and the generated pyproject.toml drift apart.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"
PROBE = "lock-probe"  # a name that appears nowhere else in the lock


def templated(lock: str, slug: str = PROBE) -> str:
    """The rendered project's lock with its name (as uv writes it: `name = "..."`) made a template variable."""
    text, count = re.subn(rf'name = "{re.escape(slug)}"', 'name = "{{ cookiecutter.project_slug }}"', lock)
    if count == 0:
        raise SystemExit(f"{slug!r} is not in the lock: did `uv lock` lock the rendered project?")
    return text


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=tmp,
                                    extra_context={"project_name": PROBE.replace("-", " ").title()}))
        if "--upgrade" in argv:
            (project / "uv.lock").unlink(missing_ok=True)  # resolve afresh, not from the pins we ship
        done = subprocess.run(["uv", "lock"], cwd=project, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        LOCK.write_text(templated((project / "uv.lock").read_text()))
    print(f"wrote {LOCK.relative_to(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
