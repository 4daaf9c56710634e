"""The regression-gate jobs: base and candidate side by side (paired) or in separate sweeps."""
