"""Print the README's table of template variables from cookiecutter.json, so prompts and docs agree.

`python scripts/variables_table.py` prints it; tests/test_readme.py checks the README holds it.
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def table() -> str:
    config = json.loads((ROOT / "cookiecutter.json").read_text())
    prompts = config["__prompts__"]
    rows = ["| Variable | Meaning | Default |", "|---|---|---|"]
    for name, default in config.items():
        if name.startswith("_"):
            continue
        prompt = prompts.get(name, "")
        if isinstance(prompt, dict):  # a choice: its prompt plus one label per option
            options = "; ".join(f"`{k}`: {v}" for k, v in prompt.items() if k != "__prompt__")
            prompt = f"{prompt['__prompt__']}. {options}"
            default = default[0]
        shown = "(derived)" if "{{" in default else f"`{default}`" if default != "" else "(empty)"
        rows.append(f"| `{name}` | {prompt} | {shown.replace('|', '&#124;')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
