"""Serving the champion: the model directory `export` writes, the runtimes, the HTTP app, the smoke test."""
