"""Reports are data plus a template: a function returns plain data, `render` lays it out.

Templates live in `templates/<name>.j2` beside this module (package data; the project template copies it
without rendering). Tests assert the data, and one snapshot per template checks the layout.
"""

from __future__ import annotations

from functools import cache

import jinja2

from .errors import PipelineError


@cache
def _environment() -> jinja2.Environment:
    # StrictUndefined: a key missing from the data is an error, never an empty cell in a report.
    return jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(name: str, **data: object) -> str:
    """The text of `templates/<name>.j2` filled with `data`."""
    try:
        template = _environment().get_template(f"{name}.j2")
    except jinja2.TemplateNotFound:
        raise PipelineError(f"no report template '{name}' (templates/{name}.j2 in the package)") from None
    try:
        return template.render(**data)
    except jinja2.UndefinedError as exc:
        raise PipelineError(f"report template '{name}': {exc.message}") from None
