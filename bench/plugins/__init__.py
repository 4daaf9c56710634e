"""Plugin files shipped with rnnbench, loaded by path with --plugin (not imported as modules)."""
