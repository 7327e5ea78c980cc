"""Selectors by name. A selector module registers itself with `@register`; every module in
this package is imported on first lookup, so a new selector is one new file. Outside
selectors come from the entry-point group `curate.selectors`, or by dotted path
(`package.module:Class`) without being installed at all."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import inspect
import os
import pkgutil
import sys

from curate.errors import CurateError
from curate.selectors.base import Selector

_REGISTRY: dict[str, type[Selector]] = {}


def register(cls: type[Selector]) -> type[Selector]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"selector name '{cls.name}' registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    import curate.selectors as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in ("base", "registry"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    # Outside packages: [project.entry-points."curate.selectors"] name = "pkg.module:Class"
    for entry in importlib.metadata.entry_points(group="curate.selectors"):
        cls = entry.load()
        if _REGISTRY.get(cls.name) is not cls:
            register(cls)


def available() -> dict[str, type[Selector]]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def load_selector_class(path: str) -> type[Selector]:
    """The Selector subclass at `package.module:Class` (importable from sys.path)."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr or ":" in attr:
        raise CurateError(f"cannot read selector '{path}'",
                          "write a registered name or package.module:Class")
    if os.getcwd() not in sys.path and "" not in sys.path:
        # The `curate` script's sys.path lacks the working directory (python -m has it), but
        # a my_rules.py beside the config should import; appended, so it shadows nothing.
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):  # the module itself, not its imports
            raise CurateError(f"selector '{path}': no module named '{module_name}'",
                              "install it or put its folder on PYTHONPATH") from None
        raise CurateError(f"selector '{path}': importing {module_name} failed "
                          f"(ModuleNotFoundError: {err})", "install what it imports") from None
    except Exception as err:  # the user's module failed to run: say how, in one line
        raise CurateError(f"selector '{path}': importing {module_name} failed "
                          f"({type(err).__name__}: {err})", "fix the module") from None
    found: object = module
    for part in attr.split("."):  # Outer.Inner, as entry points allow
        if not hasattr(found, part):
            classes = [n for n, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, Selector) and v is not Selector]
            close = difflib.get_close_matches(part, classes, n=1)
            hint = f"did you mean '{module_name}:{close[0]}'?" if close else (
                f"its Selector classes: {', '.join(classes) or 'none'}")
            raise CurateError(f"selector '{path}': {module_name} has no '{attr}'", hint)
        found = getattr(found, part)
    if not (inspect.isclass(found) and issubclass(found, Selector)):
        raise CurateError(f"selector '{path}' is not a curate.selectors.base.Selector subclass",
                          "subclass Selector and implement pick(view, n, rng)")
    return found


def selector_class(name: str) -> type[Selector]:
    """A registered selector by name, or an outside one by `package.module:Class`."""
    if ":" in name:
        return load_selector_class(name)
    selectors = available()
    if name not in selectors:
        close = difflib.get_close_matches(name, selectors, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise CurateError(f"unknown selector '{name}'",
                          f"{hint}valid selectors (or package.module:Class): "
                          f"{', '.join(selectors)}")
    return selectors[name]


def make_selector(name: str, params: dict | None = None) -> Selector:
    """Build a selector (a registered name or `package.module:Class`); unknown names and
    parameters are CurateErrors."""
    cls = selector_class(name)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params or {}:
        if key not in valid:
            raise CurateError(f"selector '{name}' has no parameter '{key}'",
                              f"valid parameters: {', '.join(valid) or 'none'}")
    selector = cls(**(params or {}))
    if not isinstance(getattr(cls, "name", None), str):
        selector.name = name  # a dotted-path class need not name itself: its path does
    return selector


def code_fingerprint(cls: type[Selector]) -> str | None:
    """A hash of the source file of a selector from outside curate, None for curate's own.

    The select stage's cache key includes it: a user editing their selector must not get
    the previous code's cached selection (curate's own selectors bump a version instead)."""
    if cls.__module__.split(".")[0] == "curate":
        return None
    source = f"{cls.__module__}.{cls.__qualname__}"  # no source at all (built in C)
    for obj in (inspect.getmodule(cls), cls):  # the module's helpers count too
        try:
            source = inspect.getsource(obj)
            break
        except (OSError, TypeError):  # a notebook's __main__ has no file; its class may
            continue
    return hashlib.sha256(source.encode()).hexdigest()[:16]
