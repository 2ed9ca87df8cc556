"""Remove what the chosen level and options do not use, and record the answers for template updates.

One table maps each optional path to the condition under which it stays. The hook makes no
network calls and creates no git repository, so running it again (as cruft does) is safe.
"""

import json
import shutil
import subprocess
from pathlib import Path

# tojson escapes quotes, so no answer can break out of this string literal.
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
LEVEL = int(ANSWERS["mlops_level"])
TASK = ANSWERS["task"]
CLASSIFICATION = TASK == "classification"

# path -> keep it?  Everything not listed here is kept for every level and option.
KEEP = {
    "data/raw/breast_cancer.csv": CLASSIFICATION,
    "data/raw/breast_cancer_current.csv": CLASSIFICATION,
    "data/raw/diabetes.csv": not CLASSIFICATION,
    "data/raw/diabetes_current.csv": not CLASSIFICATION,
    # Level 1, continuous training: scheduled and data-triggered retraining, drift monitoring.
    ".github/workflows/retrain.yml": LEVEL >= 1,
    ".github/workflows/drift.yml": LEVEL >= 1,
    ".github/workflows/keepalive.yml": LEVEL >= 1,
    # Level 2, CI/CD automation: PR reports, image build and push, staged deploy, rollback.
    ".github/workflows/pr-report.yml": LEVEL >= 2,
    ".github/workflows/pr-comment.yml": LEVEL >= 2,
    ".github/workflows/deploy.yml": LEVEL >= 2,
    ".github/workflows/deploy-env.yml": LEVEL >= 2,
    ".github/workflows/rollback.yml": LEVEL >= 2,
}
# Machine-specific keys that must not be recorded in the generated repo.
UNRECORDED = ("_output_dir", "_repo_dir")


def template_commit() -> str | None:
    """The template's git commit, when it was generated from a local git checkout."""
    repo = ANSWERS.get("_repo_dir")
    if not repo or not (Path(repo) / ".git").exists():
        return None
    out = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def record_answers() -> None:
    """Write .cruft.json in the format cruft reads, so `cruft update` can follow the template."""
    context = {k: v for k, v in ANSWERS.items() if k not in UNRECORDED}
    state = {
        "template": ANSWERS.get("_template", ""),
        "commit": template_commit(),
        "checkout": ANSWERS.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "skip": [".git", "data/raw", "schema.yaml", "params.yaml", "metrics", "champion.json"],
    }
    Path(".cruft.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def main() -> None:
    for path, keep in KEEP.items():
        target = Path(path)
        if keep or not target.exists():
            continue
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    record_answers()


if __name__ == "__main__":
    main()
