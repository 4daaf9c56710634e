"""Where implementations come from: the built-in modules of this package, the `rnnbench.implementations` entry
points of installed packages (the kernels extra's adapters among them) and plugin files (`--plugin`). Each
registers itself with `implementations.registry.register` (and `register_family`) when imported."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from implementations import families as _families
from implementations.families import RegistryError

ENTRY_POINT_GROUP = "rnnbench.implementations"
_loaded_builtins = False
_loaded_entry_points = False


def load_builtins() -> None:
    global _loaded_builtins
    if _loaded_builtins:
        return
    _loaded_builtins = True
    package = importlib.import_module("implementations")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        # families registers on import; kernels/ holds the optional adapters, loaded as entry points
        if info.name.startswith("_") or info.name in ("registry", "families") or info.ispkg:
            continue
        importlib.import_module(f"implementations.{info.name}")


def load_entry_points() -> None:
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            with _families.loading(f"entry point {ep.name} ({ep.value})"):
                ep.load()
        except RegistryError as exc:
            raise RegistryError(f"plugin entry point {ep.value!r}: {exc}") from exc
        except Exception as exc:  # a broken third-party package must not take rnnbench down silently
            raise RegistryError(f"plugin entry point {ep.value!r} failed to load: {exc}") from exc


def load_plugin(path: str | Path) -> None:
    """Import a plugin file; its @register calls add to the registry. Errors name the file."""
    load_builtins()
    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"plugin file not found: {path}")
    module_name = f"rnnbench_plugin_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"plugin {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        sys.modules[module_name] = module
        with _families.loading(f"plugin {path}"):
            spec.loader.exec_module(module)
    except RegistryError as exc:
        sys.modules.pop(module_name, None)
        raise RegistryError(f"plugin {path}: {exc}") from exc
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise RegistryError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from exc
