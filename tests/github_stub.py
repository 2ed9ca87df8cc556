"""The one fake GitHub REST API, for the template's tests as for the generated project's own.

It lives in the generated project (`{{cookiecutter.project_slug}}/tests/github_stub.py`, plain Python that
cookiecutter copies unchanged), so the generated tests, the act scenarios (through tests/act/loopback.py)
and these tests all use the same one. This module loads that file; see it for the endpoints.
"""

from __future__ import annotations

import types
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "{{cookiecutter.project_slug}}" / "tests" / "github_stub.py"
# Compiled here rather than imported: an import would leave a __pycache__ in the template, which every
# render would then copy.
_module = types.ModuleType("generated_github_stub")
_module.__file__ = str(SOURCE)
exec(compile(SOURCE.read_text(), str(SOURCE), "exec"), _module.__dict__)

GitHubStub = _module.GitHubStub
BODY_LIMIT = _module.BODY_LIMIT
BOT = _module.BOT
ADMIN_ONLY = _module.ADMIN_ONLY
