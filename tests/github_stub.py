"""The one fake GitHub REST API, for the template's tests as for the generated project's own.

It lives in the generated project (`{{cookiecutter.project_slug}}/tests/github_stub.py`, plain Python that
cookiecutter copies unchanged), so the generated tests, the act scenarios (through tests/act/loopback.py)
and these tests all use the same one. This module loads that file; see it for the endpoints.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "{{cookiecutter.project_slug}}" / "tests" / "github_stub.py"
_spec = importlib.util.spec_from_file_location("generated_github_stub", SOURCE)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

GitHubStub = _module.GitHubStub
BODY_LIMIT = _module.BODY_LIMIT
BOT = _module.BOT
ADMIN_ONLY = _module.ADMIN_ONLY
