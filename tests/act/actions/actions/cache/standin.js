// Runs `python standins.py <command>` with the step's INPUT_* env; exit code passes through.
const { spawnSync } = require("child_process");
module.exports = (command) => {
  const tool = process.env.ACT_STANDIN_TOOL;
  if (!tool) {
    console.log("::error::ACT_STANDIN_TOOL is not set: run workflows through tests/act/harness.py");
    process.exit(1);
  }
  const r = spawnSync(process.env.ACT_STANDIN_PYTHON || "python3", [tool, command], { stdio: "inherit" });
  process.exit(r.status === null ? 1 : r.status);
};
