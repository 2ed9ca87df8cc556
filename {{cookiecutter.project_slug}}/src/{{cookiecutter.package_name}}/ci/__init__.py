"""What the GitHub workflows call: step outputs and summaries, the PR report and its comment, drift
alerts, and level 2's deploys."""
