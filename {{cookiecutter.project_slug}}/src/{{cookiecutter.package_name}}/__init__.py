"""{{ cookiecutter.project_name }}: an ML pipeline with one module per lifecycle stage."""

__version__ = "0.1.0"
