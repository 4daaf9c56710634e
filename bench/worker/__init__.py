"""What runs inside the isolated worker process: building, timing, memory, correctness, profiling.

Nothing here imports the parent side (bench.run, bench.ci, bench.commands)."""
