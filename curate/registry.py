"""Components by name: the one registry shape that selectors and generators both use.

A component module registers its class with `@register`; on lookup every module of the
registry's package is imported, so a new component is one new file. Outside components come
from an entry-point group (`[project.entry-points."curate.selectors"] name =
"pkg.module:Class"`), or by dotted path (`package.module:Class`) without being installed at
all. Building one (`make`) checks its parameters' names and values (`curate.params`) before
any data is read.

A dotted path imports its module, so the module's top-level code runs before any check:
the registry trusts its caller. Python code names classes itself; a config file that names
one is refused before it gets here unless the user allowed code
(`curate.config_load.require_code_opt_in`).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import inspect
import os
import pkgutil
import sys
from typing import Any, Generic, TypeVar

from curate.errors import CurateError
from curate.params import check_params

T = TypeVar("T")


class Registry(Generic[T]):
    """Args:
        kind: what it holds, as errors name it ("selector").
        base: the class every component subclasses.
        package: the package whose modules are imported to find the builtin components.
        entry_point_group: where installed outside packages list theirs.
        setting: the config section of the parameters, for error hints ("select.params").
        contract: what a subclass implements, for error hints ("pick(view, n, rng)").
    """

    def __init__(self, kind: str, base: type[T], package: str, entry_point_group: str,
                 setting: str, contract: str):
        self.kind = kind
        self.base = base
        self.package = package
        self.entry_point_group = entry_point_group
        self.setting = setting
        self.contract = contract
        # name -> class, or a "package.module:Class" path loaded on first use
        self.entries: dict[str, type[T] | str] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: `cls` under its `name`."""
        if cls.name in self.entries and self.entries[cls.name] is not cls:
            raise ValueError(f"{self.kind} name '{cls.name}' registered twice")
        self.entries[cls.name] = cls
        return cls

    def discover(self) -> None:
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")
        for entry in importlib.metadata.entry_points(group=self.entry_point_group):
            cls = entry.load()
            if self.entries.get(cls.name) is not cls:
                self.register(cls)

    def available(self) -> dict[str, type[T]]:
        """Every registered component by name, sorted."""
        self.discover()
        return {name: self._resolve(name) for name in sorted(self.entries)}

    def lookup(self, name: str) -> type[T]:
        """A registered component by name, or an outside one by `package.module:Class`."""
        if ":" in name:
            return self.load_class(name)
        self.discover()
        if name not in self.entries:
            close = difflib.get_close_matches(name, self.entries, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise CurateError(f"unknown {self.kind} '{name}'",
                              f"{hint}valid {self.kind}s (or package.module:Class): "
                              f"{', '.join(sorted(self.entries))}")
        return self._resolve(name)

    def _resolve(self, name: str) -> type[T]:
        entry = self.entries[name]
        return self.load_class(entry) if isinstance(entry, str) else entry

    def load_class(self, path: str) -> type[T]:
        """The subclass of `base` at `package.module:Class` (importable from sys.path)."""
        kind, base = self.kind, self.base
        module_name, _, attr = path.partition(":")
        if not module_name or not attr or ":" in attr:
            raise CurateError(f"cannot read {kind} '{path}'",
                              "write a registered name or package.module:Class")
        if os.getcwd() not in sys.path and "" not in sys.path:
            # The `curate` script's sys.path lacks the working directory (python -m has it),
            # but a my_rules.py beside the config should import; appended, it shadows nothing.
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):  # the module, not its imports
                raise CurateError(f"{kind} '{path}': no module named '{module_name}'",
                                  "install it or put its folder on PYTHONPATH") from None
            raise CurateError(f"{kind} '{path}': importing {module_name} failed "
                              f"(ModuleNotFoundError: {err})", "install what it imports") from None
        except Exception as err:  # the user's module failed to run: say how, in one line
            raise CurateError(f"{kind} '{path}': importing {module_name} failed "
                              f"({type(err).__name__}: {err})", "fix the module") from None
        found: object = module
        for part in attr.split("."):  # Outer.Inner, as entry points allow
            if not hasattr(found, part):
                classes = [n for n, v in vars(module).items()
                           if inspect.isclass(v) and issubclass(v, base) and v is not base]
                close = difflib.get_close_matches(part, classes, n=1)
                hint = f"did you mean '{module_name}:{close[0]}'?" if close else (
                    f"its {base.__name__} classes: {', '.join(classes) or 'none'}")
                raise CurateError(f"{kind} '{path}': {module_name} has no '{attr}'", hint)
            found = getattr(found, part)
        if not (inspect.isclass(found) and issubclass(found, base)):
            raise CurateError(f"{kind} '{path}' is not a {base.__module__}.{base.__name__} "
                              "subclass", f"subclass {base.__name__} and implement "
                              f"{self.contract}")
        return found

    def make(self, name: str, params: dict[str, Any] | None = None) -> T:
        """Build a component (a registered name or `package.module:Class`): unknown names
        and parameters, and values its `parameter_constraints` refuse, are CurateErrors."""
        cls = self.lookup(name)
        params = dict(params or {})
        valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        for key in params:
            if key not in valid:
                raise CurateError(f"{self.kind} '{name}' has no parameter '{key}'",
                                  f"valid parameters: {', '.join(valid) or 'none'}")
        check_params(cls, params, f"{self.kind} '{name}'", self.setting)
        made = cls(**params)
        if not isinstance(getattr(cls, "name", None), str):
            made.name = name  # a dotted-path class need not name itself: its path does
        return made


def code_fingerprint(cls: type) -> str | None:
    """A hash of the source file of a component from outside curate, None for curate's own.

    A stage's cache key includes it: a user editing their selector must not get the
    previous code's cached result (curate's own components bump a version instead)."""
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
