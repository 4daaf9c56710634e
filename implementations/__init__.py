"""RNN implementations. Each module here registers builders with `implementations.registry.register`."""
