"""rnnbench: benchmark, verify and profile RNN implementations in PyTorch."""

__version__ = "0.1.0"
