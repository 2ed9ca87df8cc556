"""{{ cookiecutter.project_name }}: an ML pipeline whose code is grouped by concern: `stages` (one module per
DVC stage), `serving` and `ci` (what the workflows call); the shared parts at the top.

The layers point one way. A module imports only modules below it, never one above, and no two modules
import each other, directly or through others:

    cli                      the commands (and __main__, which runs them)
    ci                       what the workflows call: step outputs, the PR report, promotion, monitoring
                             alerts, batch scoring's plan, template updates, deploys
    serving                  export, the runtimes, the HTTP app with its capture and metrics, batch scoring,
                             the smoke test (ci's deploy uses it)
    stages                   one module per DVC stage, and the monitoring loop (collect, monitor, history)
    champion, tracking, contract, config, remote, reporting, capture, monitoring, signing, slices
                             the shared parts: the champion in git, MLflow, schema.yaml, params.yaml,
                             the DVC remote, the report templates, the prediction-capture record,
                             monitoring's verdict, signed champions, slice metrics
    paths                    every file the project reads or writes, by name
    errors                   the errors the CLI turns into messages and exit codes

A cycle between two modules means a third is missing: move what both need one layer down. The rule is
checked by import-linter (`[tool.importlinter]` in pyproject.toml, run by tests/test_layout.py); a new
module gets its place in that table.
"""

__version__ = "0.1.0"
