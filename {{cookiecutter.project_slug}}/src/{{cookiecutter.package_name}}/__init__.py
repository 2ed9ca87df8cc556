"""{{ cookiecutter.project_name }}: an ML pipeline whose code is grouped by concern:
`stages` (one module per DVC stage), `serving` and `ci` (what the workflows call); the shared parts at the top."""

__version__ = "0.1.0"
