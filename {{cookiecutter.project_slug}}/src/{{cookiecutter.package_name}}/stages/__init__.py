"""The pipeline's stages, one module per DVC stage (dvc.yaml runs each through the CLI)."""
