"""`rnnbench` command line: one module per subcommand in bench/commands/, found by name."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings
from types import ModuleType

from bench.errors import UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one line (exit 2), without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _commands(only: str | None = None) -> dict[str, ModuleType]:
    """Every subcommand's module; with `only` (the command being run), that one alone, so a command over
    results (`runs`, `query`, `history`) does not pay for importing torch."""
    import bench.commands as package

    names = {
        info.name.rstrip("_").replace("_", "-"): info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    }
    if only in names:
        names = {only: names[only]}
    return {name: importlib.import_module(f"bench.commands.{module}") for name, module in sorted(names.items())}


def _usage_errors() -> tuple[type[BaseException], ...]:
    registry = sys.modules.get("implementations.registry")  # imported by the commands that need it
    return (UsageError, registry.RegistryError) if registry else (UsageError,)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="load implementations registered in this file (repeatable)",
    )
    parser = _Parser(prog="rnnbench", description="Benchmark, verify and profile RNN implementations.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in _commands(only).items():
        p = sub.add_parser(name, parents=[common], help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
    warnings.filterwarnings("ignore", message=r".*TorchScript.*", category=DeprecationWarning)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv and not argv[0].startswith("-") else None).parse_args(argv)
    try:
        if args.plugin:
            from implementations.registry import load_plugin

            for path in args.plugin:
                load_plugin(path)
        return int(args._run(args))
    except KeyboardInterrupt:
        print(f"rnnbench {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rnnbench show RUN | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by it
    except Exception as exc:
        if not isinstance(exc, _usage_errors()):
            raise
        print(f"rnnbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
