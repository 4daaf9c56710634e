"""The parent side of a sweep: worker processes, executors (local, Ray), pooling rounds, progress."""
