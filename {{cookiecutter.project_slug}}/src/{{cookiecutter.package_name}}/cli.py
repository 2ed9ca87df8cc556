"""One CLI for every pipeline stage: `python -m {{ cookiecutter.package_name }} <stage>`.

DVC stages and CI workflow steps call these same commands, so each step also runs locally.
Exit codes: 0 ok, 1 a data check or the gate failed, 2 bad input or configuration, 3 drift detected.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from . import paths
from .config import load_params, primary_metric
from .errors import PipelineError

DRIFT_EXIT = 3


def _infer_schema(args: argparse.Namespace, params: dict) -> int:
    from . import contract
    from .stages import checks

    source = args.csv or params["data"]["path"]
    frame = checks.read_csv(source)
    target = params["data"]["target"]
    if target not in frame.columns:
        raise PipelineError(f"{source}: target column '{target}' (data.target in params.yaml) is missing")
    inferred = contract.infer(frame, target, params["task"], int(params["checks"].get("max_categories", 50)), source)
    out = args.out or params["data"]["schema"]
    kept = contract.write(out, inferred)
    contract.pandera_schema(out)  # the rules kept from the old file must still make a valid pandera schema
    for warning in inferred.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"schema for {len(inferred.entries)} columns of {source} written to {out}"
          + (f"; kept the rules you declared on {', '.join(kept)}" if kept else "")
          + (f"; {len(inferred.warnings)} warning(s) above: review them before `check`" if inferred.warnings else ""))
    return 0


def _check(args: argparse.Namespace, params: dict) -> int:
    from .stages import checks

    summary = checks.run_checks(params, paths.DATA_CHECK, paths.DATA_CHECK_HTML)
    print(f"data checks passed for {', '.join(summary['files'])}")
    return 0


def _prepare(args: argparse.Namespace, params: dict) -> int:
    from .stages import prepare

    train_rows, test_rows = prepare.run(params)
    print(f"split: {train_rows} train rows, {test_rows} test rows")
    return 0


def _train(args: argparse.Namespace, params: dict) -> int:
    from .stages import train

    path = train.run(params)
    print(f"trained {params['model']['family']}: {path}")
    return 0


def _evaluate(args: argparse.Namespace, params: dict) -> int:
    from .stages import evaluate

    print(json.dumps(evaluate.run(params), sort_keys=True))
    return 0


def _model_card(args: argparse.Namespace, params: dict) -> int:
    from .stages import card

    print(f"model card written to {card.run(params)}")
    return 0


def _gate(args: argparse.Namespace, params: dict) -> int:
    from .stages import gate

    verdict = gate.run(params, args.base_ref)
    print("gate passed: " + "; ".join(verdict["reasons"]))
    return 0


def _register(args: argparse.Namespace, params: dict) -> int:
    from .stages import register

    record = register.register(params)
    print(f"registered {record['model_name']} version {record['version']} as @challenger")
    return 0


def _promote(args: argparse.Namespace, params: dict) -> int:
    from . import reporting
    from .ci import actions, promote

    result = promote.promote(params, check=args.check)
    actions.add_summary(reporting.render("promote.md", **result, metric=primary_metric(params)))
    if not result["promoted"]:
        actions.set_outputs({"promoted": "false", "version": result["version"]})
        print(f"nothing to promote: {result['reason']}")
        return 0
    record = result["record"]
    actions.set_outputs({"promoted": "true", "version": record["version"]})
    verb = "would propose" if args.check else "proposed"
    print(f"{verb} {record['model_name']} v{record['version']} as champion (model sha256 "
          f"{record['model_sha256'][:12]}, {record['storage']} storage)" + ("" if args.check else ": champion.json"))
    return 0


def _rollback(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions, rollback

    record = rollback.rollback(args.version)
    actions.set_outputs({"version": record["version"], "rolled-back-from": record["rolled_back_from"],
                         **({"image": actions.image_name()} if os.environ.get("GITHUB_REPOSITORY") else {})})
    print(f"champion.json: v{record['version']} is the champion again (was v{record['rolled_back_from']}); "
          "commit it so every later deploy serves it")
    return 0


def _add_current(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions
    from .stages import ingest

    added, source = ingest.add_current(params)
    actions.set_outputs({"added": added})
    if source is None:
        print("no current batch configured (drift.current): nothing to add")
    elif added:
        print(f"added {added} labelled row(s) of {source} to {params['data']['path']}")
    else:
        print(f"no new labelled rows in {source}")
    return 0


def _drift(args: argparse.Namespace, params: dict) -> int:
    from .stages import drift

    summary = drift.run(params, args.current)
    print(summary["note"])
    print(f"drifted columns: {summary['drifted_columns']}/{len(summary['columns'])} "
          f"(share {summary['drift_share']:.2f}, threshold {summary['share_threshold']})")
    if summary["dataset_drift"]:
        print("dataset drift detected", file=sys.stderr)
        return 0 if args.exit_zero else DRIFT_EXIT
    return 0


def _export(args: argparse.Namespace, params: dict) -> int:
    from .serving import export

    record = export.run(params, args.source, args.out)
    print(f"exported the {args.source} {record['model_name']} version {record['version']} to {args.out}, "
          f"served with {record['runtime']}")
    return 0


def _serve(args: argparse.Namespace, params: dict) -> int:
    import uvicorn

    from .serving import serve

    app = serve.create_app(args.model_dir)  # fails here, before binding, if the model is missing
    # No access log: the app writes one JSON line per request itself.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False)
    return 0


def _score(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions
    from .ci import batch as batch_ci
    from .serving import batch

    summary = batch.run(params, args.input, args.out, model=args.model, output_format=args.format,
                        chunk_rows=args.chunk_rows, record=not args.no_capture, resume=args.resume)
    actions.set_outputs({"rows": summary["rows"], "scored": summary["scored"], "rejected": summary["rejected"],
                         "output": summary["output"]})
    actions.add_summary(batch_ci.summary_markdown(summary))
    model = summary["model"]
    version = f"v{model['version']}" if model["version"] is not None else model["alias"]
    print(f"scored {summary['scored']} of {summary['rows']} row(s) of {summary['input']} with {model['name']} "
          f"{version} ({model['runtime']}) in {summary['seconds']:.1f} s: {summary['output']}"
          + (f"; {summary['rejected']} rejected: {summary['rejects']}" if summary["rejected"] else "")
          + (f"; {summary['capture']['records']} capture record(s) in {summary['capture']['dir']}"
             if summary["capture"] else "")
          + (f"; {summary['resumed_chunks']} chunk(s) kept from an interrupted run"
             if summary["resumed_chunks"] else ""))
    return 0


def _score_plan(args: argparse.Namespace, params: dict) -> int:
    from .ci import batch as batch_ci

    result = batch_ci.plan(params, args.input)
    print(f"ready to score {result['input']}" if result["ready"] else result["reason"])
    return 0


def _publish_predictions(args: argparse.Namespace, params: dict) -> int:
    from .ci import batch as batch_ci

    print(batch_ci.publish(args.folder)["message"])
    return 0


def _report(args: argparse.Namespace, params: dict) -> int:
    from .ci import report

    summary = args.summary if args.summary is not None else os.environ.get("GITHUB_STEP_SUMMARY")
    result = report.write(params, args.out, pr_number=args.pr_number, base_ref=args.base_ref, summary_path=summary)
    cut = " (truncated to the comment limit; full text in report-full.md)" if result["truncated"] else ""
    print(f"report written to {result['out']}: {result['characters']} characters{cut}"
          + (" and to the job summary" if result["summary"] else ""))
    return 0


def _post_comment(args: argparse.Namespace, params: dict) -> int:
    from .ci import comment

    result = comment.post(args.source, repo=args.repo, head_sha=args.head_sha, expect_pr=args.expect_pr)
    if result["action"] == "skipped":
        print(f"::warning::report comment not posted: {result['reason']}")
        return 0
    print(f"{result['action']} the report comment {result['comment_id']} on PR #{result['pr']}"
          + (f": {result['url']}" if result.get("url") else ""))
    if result.get("duplicates"):
        print(f"::warning::PR #{result['pr']} has {result['duplicates']} more report comment(s); updated the oldest")
    return 0


def _champion(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions

    record = actions.champion(args.file, missing_ok=args.missing_ok)
    if record is None:
        print(f"no champion yet: {args.file} not found. Merge the first promotion pull request (retrain.yml "
              "opens it) to make one")
        return 0
    print(f"champion: {record['model_name']} version {record['version']} (model sha256 "
          f"{str(record.get('model_sha256'))[:12]}, run {record.get('run_id')}, "
          f"trained from {record.get('trained_from')})")
    return 0


def _verify_champion(args: argparse.Namespace, params: dict) -> int:
    import tempfile

    from . import champion, signing

    record = champion.read(args.file)
    with tempfile.TemporaryDirectory() as folder:
        if args.version is None or args.version == record["version"]:
            path = champion.fetch(record)
        else:  # a rollback deploys an earlier champion: check it as the commit that made it recorded it
            record, path = champion.at_version(args.version, Path(folder))
        signed_by = signing.check(params, path)
    print(f"champion v{record['version']}: sha256 matches champion.json; "
          + (f"signed by {signed_by}" if signed_by else "not signed (no signing set up; docs/security.md)"))
    return 0


def _image_name(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions, setup_github

    env = dict(os.environ)
    if not env.get("GITHUB_REPOSITORY"):  # locally: the GitHub repository of the origin remote
        env["GITHUB_REPOSITORY"] = setup_github.origin_repo()
    image = actions.image_name(env)
    actions.set_outputs({"image": image})
    print(image)
    return 0


def _promotion_blocked(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions

    actions.add_summary(actions.PROMOTION_BLOCKED.format(branch=args.branch))
    print(f"::warning::the promotion pull request was not opened; branch {args.branch} holds the candidate. "
          "Allow GitHub Actions to create pull requests (Settings > Actions > General, or `setup-github --apply`), "
          "then re-run this job")
    return 0


def _capture_source(args: argparse.Namespace, params: dict) -> tuple[str, str]:
    """Where the captured predictions are: ("source", folder or URL), ("environment", name) or ("", why not).

    --source, else $MONITOR_SOURCE (a repository variable in CI), else monitoring.source in params.yaml{% if cookiecutter.mlops_level == '2' and cookiecutter.deploy_target == 'swarm' %};
    else the Docker hosts of --environment (or $MONITOR_ENVIRONMENT) when its DEPLOY_HOST is set{% endif %}.
    """
    from .stages import collect

    source = getattr(args, "source", None) or os.environ.get("MONITOR_SOURCE") or collect.settings(params)["source"]
    if source:
        return "source", source
{%- if cookiecutter.mlops_level == '2' and cookiecutter.deploy_target == 'swarm' %}
    environment = getattr(args, "environment", None) or os.environ.get("MONITOR_ENVIRONMENT")
    if environment and (os.environ.get("DEPLOY_HOST") or "").strip():
        return "environment", environment
    return "", ("no capture source: set the repository variable MONITOR_SOURCE (a folder or fsspec URL the app's "
                "capture files are shipped to) or monitoring.source in params.yaml, or deploy with DEPLOY_HOST "
                "set for the monitored environment (MONITOR_ENVIRONMENT, default production); docs/monitoring.md")
{%- else %}
    return "", ("no capture source: set the repository variable MONITOR_SOURCE (a folder or fsspec URL the app's "
                "capture files are shipped to) or monitoring.source in params.yaml; docs/monitoring.md")
{%- endif %}


def _monitor_source(args: argparse.Namespace, params: dict) -> int:
    from . import reporting
    from .ci import actions

    kind, value = _capture_source(args, params)
    actions.set_outputs({"configured": str(bool(kind)).lower()})
    if not kind:
        actions.add_summary(reporting.render("monitor_skipped.md", reason=value))
        print(f"::warning::monitoring skipped: {value}")
        return 0
    print(f"captured predictions from {'the Docker hosts of ' if kind == 'environment' else ''}{value}")
    return 0


def _collect(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions
    from .stages import collect, history

    section = collect.settings(params)
    since = collect.parse_time(args.since, "--since") if args.since else None
    if since is None and not args.labelled:
        mark = history.watermark(section["history"])  # where the last monitored collection ended
        since = collect.parse_time(mark, "watermark") if mark else None
    until = collect.parse_time(args.until, "--until") if args.until else None
    kind, source = _capture_source(args, params)
    if not kind:
        raise PipelineError(source)
    out = args.out or (history.labelled(section["history"]) if args.labelled else None)
{%- if cookiecutter.mlops_level == '2' and cookiecutter.deploy_target == 'swarm' %}
    if kind == "environment":
        import tempfile
        from pathlib import Path

        from .ci import volumes

        with tempfile.TemporaryDirectory(prefix="capture-") as folder:
            copied = volumes.fetch(source, Path(folder))
            summary = collect.collect(params, volumes.merged_source(Path(folder)), since, until, out,
                                      labelled_only=args.labelled,
                                      described=f"capture volumes of {source}: {', '.join(copied) or 'none found'}")
    else:
        summary = collect.collect(params, source, since, until, out, labelled_only=args.labelled)
{%- else %}
    summary = collect.collect(params, source, since, until, out, labelled_only=args.labelled)
{%- endif %}
    actions.set_outputs({"rows": summary["rows"], "labelled": summary["labelled"]})
    print(f"collected {summary['rows']} record(s) ({summary['labelled']} labelled) from {summary['source']} "
          f"between {summary['since'] or 'the start'} and {summary['until']} into {summary['current']}; "
          f"{summary['duplicates']} duplicate(s), {summary['unparsable_lines']} unparsable line(s)")
    if summary["broken"]:
        examples = "; ".join(f"{e['record_id']}: {e['problem']}" for e in summary["broken_examples"])
        print(f"warning: {summary['broken']} record(s) break the data contract and are left out "
              f"(reports/collect.json), e.g. {examples}", file=sys.stderr)
    return 0


def _monitor(args: argparse.Namespace, params: dict) -> int:
    from . import monitoring, reporting
    from .ci import actions
    from .stages import collect, history, ingest, monitor

    summary, snapshots = monitor.run(params, args.current)
    section = collect.settings(params)
    stored = None
    if not args.no_history:
        stored = history.store(section["history"], params["task"], snapshots, summary["window"]["until"])
        summary["history"] = {**summary["history"], **stored}
    rows, _ = ingest.new_labelled_rows(params, ingest.production_batch(params) or args.current or section["current"])
    summary["new_labelled_rows"] = len(rows)
    paths.MONITOR.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    text = monitoring.verdict(summary)
    actions.set_outputs({"status": summary["status"], "traffic": str(summary["status"] != "no traffic").lower(),
                         "alert": str(bool(summary["alerts"])).lower(), "labelled-rows": len(rows)})
    actions.add_summary(reporting.render("monitor.md", summary=summary))
    print(text)
    if summary["status"] == "no traffic":
        print("::warning::no traffic in the monitored window: nothing was measured")
    if stored:
        print(f"history: {stored['snapshots']} snapshot(s) in {stored['workspace']}; `evidently ui --workspace "
              f"{stored['workspace']}` shows them")
    print(f"{len(rows)} labelled production row(s) are not in the training data yet")
    return 0


def _monitor_history(args: argparse.Namespace, params: dict) -> int:
    from .stages import collect, history

    print(history.sync(args.action, collect.settings(params)["history"]))
    return 0


def _monitor_alert(args: argparse.Namespace, params: dict) -> int:
    from . import monitoring
    from .ci import alerts

    summary = monitoring.read_summary(args.summary)
    result = alerts.monitor_alert(summary, monitoring.verdict(summary), new_labelled_rows=args.labelled_rows
                                  if args.labelled_rows is not None else int(summary.get("new_labelled_rows") or 0),
                                  workflow=args.workflow, ref=args.ref)
    started = f"started {result['dispatched']}" if result["dispatched"] else "no retraining (no new labelled rows)"
    if result["action"] == "none":
        print(f"{monitoring.verdict(summary)}: no alert; {started}")
    else:
        print(f"{monitoring.verdict(summary)}; {started}; {result['action']} issue #{result['issue']}")
    return 0


def _smoke(args: argparse.Namespace, params: dict) -> int:
    from .serving import smoke

    result = smoke.run(args.url, args.wait, args.expect_version)
    print(f"smoke test passed: {result['url']} serves model version {result['model_version']}; "
          f"one record of {result['columns']} columns scored {result['prediction']!r}")
    return 0


def _sync_registry(args: argparse.Namespace, params: dict) -> int:
    from . import champion
    from .ci import actions, registry

    result = registry.sync_champion(params, champion.read(args.file))
    actions.add_summary(f"**Registry:** {result['reason']}.")
    print(("" if result["moved"] else "nothing to do: ") + result["reason"])
    return 0


def _ui(args: argparse.Namespace, params: dict) -> int:
    from . import tracking

    tracking.setup(params)  # the embedded store's artifact link leads here, even after the folder moved
    uri = tracking.tracking_uri(params)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
               "--port", str(args.port)]
    print(f"MLflow UI for {uri} on http://127.0.0.1:{args.port}", flush=True)
    os.execv(sys.executable, command)  # replaces this process: Ctrl-C stops the UI
    return 0  # not reached


def _template_update(args: argparse.Namespace, params: dict) -> int:
    from .ci import template

    result = template.update(args.body)
    print(result["reason"] + (f": {len(result['changed'])} file(s) changed, {len(result['conflicts'])} with "
                              f"conflicts ({', '.join(result['conflicts']) or 'none'})" if result["updated"] else ""))
    return 0


def _setup_github(args: argparse.Namespace, params: dict) -> int:
    from .ci import setup_github

    setup_github.run(repo=args.repo, apply=args.apply, reviewers=args.reviewer, replace_secrets=args.replace_secrets)
    return 0


def _remote(args: argparse.Namespace, params: dict) -> int:
    from . import remote

    print(remote.transfer(args.action))
    return 0


{%- if cookiecutter.mlops_level == '2' and cookiecutter.deploy_target != 'none' %}


def _deploy_settings(args: argparse.Namespace, params: dict) -> int:
    from .ci import actions, deploy

    missing = deploy.check_settings(args.environment, os.environ)
    actions.set_outputs({"ready": str(not missing).lower()})
    actions.add_summary(deploy.settings_summary(args.environment, missing))
    print(f"::notice::deploy to {args.environment} skipped: {', '.join(missing)} not set (docs/deploy.md)"
          if missing else f"deploy to {args.environment}: settings found")
    return 0


def _deploy(args: argparse.Namespace, params: dict) -> int:
    from .ci import deploy, {{ 'kube' if cookiecutter.deploy_target == 'kubernetes' else 'swarm' }}

    result = deploy.run(args.environment, args.image, args.version,
                        {{ 'kube' if cookiecutter.deploy_target == 'kubernetes' else 'swarm' }}.roll_out)
    print(f"deployed {result['image']} to {result['environment']}: model v{result['version']} on "
          f"{result['replicas']} replica(s), at {result['url']}")
    return 0
{%- endif %}


def _cleanup_images(args: argparse.Namespace, params: dict) -> int:
    from .ci import images

    result = images.cleanup(keep_days=args.keep_days, dry_run=args.dry_run)
    if result["action"] == "skipped":
        print(f"::notice::{result['reason']}")
    else:
        print(f"{result['action']} {len(result['deleted'])} image version(s) of {result['image']}; kept "
              f"{result['kept']}, with every champion version ({result['named'] or 'none yet'})")
    return 0


def ships(module: str) -> bool:
    """Whether this project ships `module`: each level has only the modules its workflows use (the
    post-generation hook's table), and the CLI offers only the commands whose modules are there."""
    return importlib.util.find_spec(f"{__package__}.{module}") is not None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=paths.PARAMS, help=f"parameters file (default: {paths.PARAMS})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler, help_text: str, needs: str | None = None) -> argparse.ArgumentParser:
        if needs is not None and not ships(needs):
            return argparse.ArgumentParser(add_help=False)  # not at this level: its options go nowhere
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    sub = add("infer-schema", _infer_schema, "infer the data schema from a CSV")
    sub.add_argument("csv", nargs="?", help="CSV to infer from (default: data.path)")
    sub.add_argument("--out", help="schema file to write (default: data.schema)")
    add("check", _check, f"enforce the schema and data rules; write {paths.DATA_CHECK.with_suffix('.*')}")
    add("prepare", _prepare, "split the data into train and test sets")
    add("train", _train, f"train the model ({paths.MODEL})")
    add("evaluate", _evaluate, "score the model on the test split; write metrics/ and plots/")
    add("model-card", _model_card, f"write {paths.MODEL_CARD}: intended use, data, metrics with intervals, slices, "
                                   "limitations, lineage")
    sub = add("gate", _gate, "check thresholds and regression against the champion")
    sub.add_argument("--base-ref", help="git ref holding the champion's metrics (default: gate.base_ref)")
    add("register", _register, "log the run to MLflow; register a candidate that passed the gate as @challenger")
    sub = add("promote", _promote, "propose the registered candidate as champion: write champion.json and champion/",
              "ci.promote")
    sub.add_argument("--check", action="store_true", help="only decide whether there is anything new to propose")
    sub = add("rollback", _rollback, "make an earlier champion (from champion.json's git history) the champion again",
              "ci.rollback")
    sub.add_argument("--version", type=int, required=True, help="the earlier champion's version")
    add("add-current", _add_current, "append the current batch's new labelled rows to the training data")
    sub = add("drift", _drift, "compare a current batch with the training data (Evidently)")
    sub.add_argument("--current", help="current batch CSV (default: drift.current in params.yaml)")
    sub.add_argument("--exit-zero", action="store_true", help="exit 0 even when drift is detected")
    sub = add("export", _export, "write the champion (or the candidate), with its metadata, for serving")
    sub.add_argument("--from", dest="source", choices=("champion", "candidate"), default="champion",
                     help="champion: the model champion.json names (sha256-checked); candidate: models/model.joblib "
                          "(default: champion)")
    sub.add_argument("--out", default=paths.MODEL_DIR, help=f"directory to write (default: {paths.MODEL_DIR})")
    sub = add("serve", _serve, "serve an exported model over HTTP (FastAPI + uvicorn)")
    sub.add_argument("--model-dir", default=paths.MODEL_DIR,
                     help=f"exported model directory (default: {paths.MODEL_DIR})")
    sub.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    sub.add_argument("--port", type=int, default=8000, help="port to bind (default: 8000)")
    sub = add("score", _score, "score a CSV or Parquet file with the champion, in chunks: predictions, rejected "
                               "rows and capture records", "serving.batch")
    sub.add_argument("input", nargs="?", help="file to score; a DVC-tracked path is pulled (default: batch.input)")
    sub.add_argument("--out", help="predictions file, .parquet or .csv; the rejects and summary go beside it "
                                   "(default: batch.output)")
    sub.add_argument("--model", choices=("champion", "candidate"), default="champion",
                     help="champion: the model champion.json names (sha256-checked); candidate: "
                          "models/model.joblib (default: champion)")
    sub.add_argument("--format", choices=("parquet", "csv"), help="output format (default: from --out's suffix)")
    sub.add_argument("--chunk-rows", type=int, help="rows read and scored at a time (default: batch.chunk_rows)")
    sub.add_argument("--no-capture", action="store_true", help="write no prediction-capture records")
    sub.add_argument("--resume", action="store_true",
                     help="keep finished chunks beside the output and, after an interruption, score only the rest")
    sub = add("score-plan", _score_plan, "whether batch scoring can run: an input and a champion (in CI also as "
                                         "step outputs, and the job summary when not)", "ci.batch")
    sub.add_argument("--input", help="file to score (empty: batch.input)")
    sub = add("publish-predictions", _publish_predictions,
              "push a predictions folder to the DVC remote, if one is configured (CI)", "ci.batch")
    sub.add_argument("folder", nargs="?", default=paths.BATCH_OUTPUT.parent,
                     help=f"folder to push (default: {paths.BATCH_OUTPUT.parent})")
    sub = add("report", _report, "render the pipeline's outputs as Markdown for the PR comment and the job summary")
    sub.add_argument("--out", default=paths.REPORT_DIR,
                     help="the report's own folder (new, empty, or an earlier report's, which is emptied): "
                          f"report.md, the plots, the HTML reports and the model (default: {paths.REPORT_DIR})")
    sub.add_argument("--pr-number", help="pull request the report is for; written beside the report for the poster")
    sub.add_argument("--base-ref", help="branch holding the champion's metrics when the gate did not run "
                                        "(default: gate.base_ref)")
    sub.add_argument("--summary", help="file to append the report to (default: $GITHUB_STEP_SUMMARY; '' for none)")
    sub = add("post-comment", _post_comment,
              "create or update the PR's one report comment from a report folder (GitHub REST API)", "ci.comment")
    sub.add_argument("--from", dest="source", default=paths.REPORT_DIR,
                     help=f"the downloaded report artifact: report.md and pr-number (default: {paths.REPORT_DIR})")
    sub.add_argument("--repo", help="owner/name (default: $GITHUB_REPOSITORY)")
    sub.add_argument("--head-sha", help="skip posting unless the PR's head is this commit (the reported run's)")
    sub.add_argument("--expect-pr", help="fail unless the artifact names this PR (when the event knows it)")
    sub = add("champion", _champion, "show the champion recorded in champion.json (in CI also as step outputs)")
    sub.add_argument("--file", default=paths.CHAMPION, help=f"champion record (default: {paths.CHAMPION})")
    sub.add_argument("--missing-ok", action="store_true",
                     help="no champion yet is not an error: output found=false and say what to do next")
    add("image-name", _image_name, "the serving image's name: registry and $GITHUB_REPOSITORY, lowercased "
                                   "(in CI also as the step output image)")
    sub = add("promotion-blocked", _promotion_blocked,
              "say in the job summary why the promotion pull request was not opened and what to do")
    sub.add_argument("--branch", default="promote/champion", help="branch that holds the candidate")
    sub = add("verify-champion", _verify_champion,
              "check the champion's bytes (sha256) and signature before a deploy uses them (docs/security.md)")
    sub.add_argument("--file", default=paths.CHAMPION, help=f"champion record (default: {paths.CHAMPION})")
    sub.add_argument("--version", type=lambda v: int(v) if v.strip() else None,
                     help="an earlier champion version (a rollback's), checked from git history (empty: the current)")
    sub = add("collect", _collect, "gather the captured predictions of a window into the production batch "
                                   "(monitoring.current), labels joined by record id", "stages.collect")
    sub.add_argument("--source", help="capture folder or fsspec URL (default: $MONITOR_SOURCE, else monitoring.source)")
{%- if cookiecutter.mlops_level == '2' and cookiecutter.deploy_target == 'swarm' %}
    sub.add_argument("--environment", help="read the capture volumes of this environment's Docker hosts over SSH "
                                           "(its DEPLOY_* settings, docs/deploy.md; default: $MONITOR_ENVIRONMENT)")
{%- endif %}
    sub.add_argument("--since", help="window start, ISO 8601 UTC (default: where the last monitoring run ended)")
    sub.add_argument("--until", help="window end, ISO 8601 UTC (default: now)")
    sub.add_argument("--labelled", action="store_true",
                     help="every captured record with a label, whatever its time (retraining)")
    sub.add_argument("--out", help="batch CSV to write (default: monitoring.current; with --labelled, "
                                   "labelled.csv in monitoring.history)")
    add("monitor-source", _monitor_source, "where `collect` reads the captured predictions from; in CI a step output "
        "`configured`, and a job summary saying what to set when nothing is", "stages.collect")
    sub = add("monitor", _monitor, "drift, prediction drift, production accuracy and slices of the collected batch "
                                   f"(Evidently); {paths.MONITOR.with_suffix('.*')}, a snapshot in the history",
              "stages.monitor")
    sub.add_argument("--current", help="collected batch (default: monitoring.current)")
    sub.add_argument("--no-history", action="store_true", help="do not add the run to the Evidently workspace")
    sub = add("monitor-history", _monitor_history,
              "pull or push the monitoring history (Evidently workspace, watermark, labelled rows) with the DVC remote",
              "stages.history")
    sub.add_argument("action", choices=("pull", "push"))
    sub = add("monitor-alert", _monitor_alert,
              "on a monitoring alert open or update the issue; with new labelled production rows start retraining",
              "ci.alerts")
    sub.add_argument("--summary", default=paths.MONITOR, help=f"monitor summary (default: {paths.MONITOR})")
    sub.add_argument("--workflow", default=paths.RETRAIN_WORKFLOW,
                     help=f"workflow file to dispatch (default: {paths.RETRAIN_WORKFLOW})")
    sub.add_argument("--ref", help="branch to retrain on (default: $GITHUB_REF_NAME, else main)")
    sub.add_argument("--labelled-rows", type=int, help="new labelled production rows (default: from the summary)")
    sub = add("smoke", _smoke, "smoke-test a running model API: /health, then /predict with one valid record")
    sub.add_argument("--url", default="http://127.0.0.1:8000", help="base URL (default: http://127.0.0.1:8000)")
    sub.add_argument("--wait", type=float, default=60, help="seconds to wait for /health (default: 60)")
    sub.add_argument("--expect-version", type=lambda v: int(v) if v.strip() else None,
                     help="fail unless /health reports this model version (empty: any)")
    sub = add("sync-registry", _sync_registry,
              "move the shared registry's @champion alias to the version champion.json names (after a merge)",
              "ci.registry")
    sub.add_argument("--file", default=paths.CHAMPION, help=f"champion record (default: {paths.CHAMPION})")
    sub = add("ui", _ui, "open the MLflow UI on the configured store (the embedded one still works after the "
                         "folder moved, or after a CI run's mlflow.db and mlruns/ were downloaded)")
    sub.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default: 5000)")
    sub = add("template-update", _template_update,
              "cruft check; when the template has new commits, cruft update, listing changed files and conflicts")
    sub.add_argument("--body", type=Path, help="write the pull request's description here (Markdown)")
    sub = add("setup-github", _setup_github,
              "configure the GitHub repository for this level: environments, variables, secrets, permissions "
              "(a dry run unless --apply; token from GITHUB_TOKEN or GH_TOKEN)")
    sub.add_argument("--apply", action="store_true", help="make the planned changes (default: only print the plan)")
    sub.add_argument("--repo", help="owner/name (default: $GITHUB_REPOSITORY, else the origin remote)")
    sub.add_argument("--reviewer", action="append", metavar="LOGIN",
                     help="required reviewer of production (repeatable; default: the owner of a personal repo)")
    sub.add_argument("--replace-secrets", action="store_true",
                     help="set secrets that already exist again (default: keep them)")
    sub = add("remote", _remote, "pull or push what the .dvc files in git name (data, the champion's model) with "
                                 "the DVC remote, if one is configured (CI)")
    sub.add_argument("action", choices=("pull", "push"))
    sub = add("cleanup-images", _cleanup_images, "delete old serving images from ghcr.io, keeping every version "
                                                 "champion.json has named (GitHub REST API)", "ci.images")
    sub.add_argument("--keep-days", type=int, default=30, help="keep every image younger than this (default: 30)")
    sub.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
{%- if cookiecutter.mlops_level == '2' and cookiecutter.deploy_target != 'none' %}
    sub = add("deploy-settings", _deploy_settings, "whether an environment's deploy settings are set: step output "
                                                   "ready=true/false; an error when partly set (docs/deploy.md)")
    sub.add_argument("--environment", required=True, help="environment name, e.g. staging or production")
    sub = add("deploy", _deploy, "roll an image out to an environment ({{ cookiecutter.deploy_target }}, docs/deploy.md): "
                                 "the orchestrator's rolling update, a smoke test, rollback on failure")
    sub.add_argument("--environment", required=True, help="environment name, e.g. staging or production")
    sub.add_argument("--image", required=True, help="image to deploy, registry/name:tag (or @sha256:digest)")
    sub.add_argument("--version", type=lambda v: int(v) if v.strip() else None,
                     help="model version the image must serve (empty: any)")
{%- endif %}
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params)
        return args.handler(args, params)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
