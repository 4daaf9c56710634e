"""Adapters for third-party RNN kernels (pip install 'rnnbench[kernels]'), loaded through the
`rnnbench.implementations` entry-point group like any plugin; each registers nothing when its package is absent."""
