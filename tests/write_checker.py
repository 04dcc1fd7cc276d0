"""Finds the model writes in Hallmark's code, for ``tests/test_writers.py``.

It walks the project's own packages (migrations, tests and bench aside) with ``ast``
and reports every ``.save()``, ``.delete()``, ``.update()``, ``.create()``, ``bulk_create``,
``bulk_update``, ``get_or_create``, ``update_or_create`` (and ``add``/``remove``/``clear``/
``set`` on a related manager), and every ``hallmark.bulk.load_rows(Model, ...)``, whose receiver is, as far as ``ast`` can tell, a model, one of its
managers or querysets, or one of its instances, in a module that is not among that model's
writers. Receivers are followed through names assigned from ``Model.objects...``, ``Model(...)``,
``get_object_or_404(...)``, ``get_or_create`` pairs, loops over querysets, parameters annotated
with a model (or a ``QuerySet`` of one), calls of functions and methods whose return annotation
names a model (``_locked(pk) -> Asset``, ``review.approve`` imported from another module,
``-> tuple[Asset, str]``), relations (``job.assets``, ``asset.job``, read from the models' own
metadata), and ``self`` in a model or in a class generic in one (``GenericViewSet[Asset]``:
``self.get_object()``). It reads no flow: a name is a model's wherever its scope assigns it
one. A model reached in ways it cannot follow (an unannotated helper, ``getattr``) is not
seen, so keep writes plain.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models

ROOT = Path(settings.BASE_DIR)
PACKAGES = ("hallmark", "plugins", "generation", "assets", "governance", "operations", "workspace", "acceptance", "routing", "scorecards")
PROJECT_APPS = ("governance", "plugins", "generation", "assets", "operations", "workspace", "acceptance", "routing", "scorecards")
EXCLUDED_DIRS = {"migrations", "__pycache__"}

# Models of Django and third-party apps: the Hallmark modules that may write them (why: the
# docstring of tests/test_writers.py).
OTHER_WRITERS: dict[str, tuple[str, ...]] = {
    "auth.User": ("generation.bootstrap", "workspace.synthetic"),
    "auth.Group": ("generation.bootstrap",),
    "authtoken.Token": ("generation.bootstrap",),
}

WRITE_METHODS = frozenset(
    {
        "save",
        "delete",
        "update",
        "create",
        "bulk_create",
        "bulk_update",
        "get_or_create",
        "update_or_create",
        "create_user",
        "create_superuser",
    }
)
# Functions that write the model they are given as their first argument (``model``).
BULK_LOADERS = frozenset({"hallmark.bulk.load_rows"})
RELATED_WRITE_METHODS = frozenset({"add", "remove", "clear", "set"})  # only on a manager/queryset
QUERYSET_METHODS = frozenset(
    {
        "all",
        "filter",
        "exclude",
        "live",
        "select_for_update",
        "select_related",
        "prefetch_related",
        "order_by",
        "reverse",
        "distinct",
        "annotate",
        "alias",
        "only",
        "defer",
        "using",
        "none",
        "union",
        "intersection",
        "difference",
        "iterator",
    }
)
INSTANCE_METHODS = frozenset(
    {"get", "first", "last", "earliest", "latest", "create", "create_user", "create_superuser"}
)
PAIR_METHODS = frozenset({"get_or_create", "update_or_create"})  # -> (instance, created)
MANAGER_ATTRIBUTES = frozenset({"objects", "_default_manager", "_base_manager"})

CLASS, QUERYSET, INSTANCE, PAIR, GENERIC, VIEW = "class", "queryset", "instance", "pair", "generic", "view"


@dataclass(frozen=True)
class Ref:
    """What an expression is, as far as the checker can tell: a kind of thing of one model."""

    kind: str
    model: type[models.Model]


@dataclass(frozen=True)
class Write:
    """One write found in the code."""

    module: str
    line: int
    model: type[models.Model]
    method: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.model._meta.label}.{self.method}()"


def project_models() -> list[type[models.Model]]:
    return [m for label in PROJECT_APPS for m in apps.get_app_config(label).get_models()]


def writers_of(model: type[models.Model]) -> tuple[str, ...]:
    if model._meta.app_label in PROJECT_APPS:
        return tuple(model.__dict__.get("WRITERS", ()))
    return OTHER_WRITERS.get(model._meta.label, ())


def may_write(module: str, model: type[models.Model]) -> bool:
    return any(module == w or module.startswith(w + ".") for w in writers_of(model))


def _relation(model: type[models.Model], name: str) -> Ref | None:
    """``instance.name`` when it is a relation: the related instance, or a manager of them."""
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model is None or isinstance(field.related_model, str):
            continue
        accessor = field.get_accessor_name() if field.auto_created and not field.concrete else field.name
        if accessor != name:
            continue
        many = field.one_to_many or field.many_to_many
        return Ref(QUERYSET if many else INSTANCE, field.related_model)
    return None


class Checker:
    """Finds the model writes of one module."""

    def __init__(self, module: str, tree: ast.Module) -> None:
        self.module = module
        self.tree = tree
        self.by_path = {(m.__module__, m.__name__): m for m in apps.get_models()}
        self.module_aliases: dict[str, str] = {}
        self.user_model_functions: set[str] = set()
        self.writes: list[Write] = []
        # Return annotations of this module's functions, and of the methods of the class being read.
        self.functions: dict[str, ast.expr | None] = {
            node.name: node.returns
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.methods: dict[str, ast.expr | None] = {}
        self.module_env: dict[str, Ref] = {}

    # -- names -------------------------------------------------------------------------------

    def _imports(self) -> dict[str, Ref]:
        env: dict[str, Ref] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.module_aliases[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        self.module_aliases[head] = head
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    local = alias.asname or alias.name
                    model = self.by_path.get((node.module, alias.name))
                    if model is not None:
                        env[local] = Ref(CLASS, model)
                    elif alias.name == "get_user_model":
                        self.user_model_functions.add(local)
                    else:
                        self.module_aliases[local] = f"{node.module}.{alias.name}"
        for (module, name), model in self.by_path.items():
            if module == self.module:
                env[name] = Ref(CLASS, model)
        return env

    def _dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.module_aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            head = self._dotted(node.value)
            return f"{head}.{node.attr}" if head else None
        return None

    # -- expressions -------------------------------------------------------------------------

    def resolve(self, node: ast.expr | None, env: dict[str, Ref]) -> Ref | None:
        """What ``node`` evaluates to, when it is a model, its manager, queryset or instance."""
        if node is None:
            return None
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, env)
        if isinstance(node, ast.Call):
            return self._call(node, env)
        if isinstance(node, ast.Subscript):
            found = self.resolve(node.value, env)
            if found is not None and found.kind == QUERYSET:
                return found if isinstance(node.slice, ast.Slice) else Ref(INSTANCE, found.model)
            if found is not None and found.kind == CLASS:
                return Ref(GENERIC, found.model)  # not a model expression; a generic's argument
            inner = self.resolve(node.slice if not isinstance(node.slice, ast.Tuple) else node.slice.elts[0], env)
            if inner is not None and inner.kind == CLASS:
                return Ref(GENERIC, inner.model)  # GenericViewSet[Asset], QuerySet[Asset]
            return None
        if isinstance(node, ast.Await | ast.NamedExpr):
            return self.resolve(node.value, env)
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body, env) or self.resolve(node.orelse, env)
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                found = self.resolve(value, env)
                if found is not None:
                    return found
        return None

    def _attribute(self, node: ast.Attribute, env: dict[str, Ref]) -> Ref | None:
        dotted = self._dotted(node)
        if dotted is not None:
            module, _, name = dotted.rpartition(".")
            model = self.by_path.get((module, name))
            if model is not None:
                return Ref(CLASS, model)
        owner = self.resolve(node.value, env)
        if owner is None:
            return None
        managers = MANAGER_ATTRIBUTES | {m.name for m in owner.model._meta.managers}
        if owner.kind == CLASS and node.attr in managers:
            return Ref(QUERYSET, owner.model)
        if owner.kind == INSTANCE:
            return _relation(owner.model, node.attr)
        if owner.kind == VIEW and node.attr == "model":
            return Ref(CLASS, owner.model)
        if owner.kind == VIEW and node.attr == "instance":
            return Ref(INSTANCE, owner.model)
        return None

    def _call(self, node: ast.Call, env: dict[str, Ref]) -> Ref | None:
        func = node.func
        returned = self._returned(func)
        if returned is not None:
            return returned
        if isinstance(func, ast.Name):
            if func.id in self.user_model_functions:
                return Ref(CLASS, apps.get_model(settings.AUTH_USER_MODEL))
            if func.id in ("get_object_or_404", "get_list_or_404") and node.args:
                found = self.resolve(node.args[0], env)
                if found is not None and found.kind in (CLASS, QUERYSET):
                    return Ref(INSTANCE if func.id == "get_object_or_404" else QUERYSET, found.model)
                return None
            if func.id in ("list", "sorted", "reversed", "iter") and node.args:
                found = self.resolve(node.args[0], env)
                return found if found is not None and found.kind == QUERYSET else None
        found = self.resolve(func, env)
        if found is not None and found.kind == CLASS:
            return Ref(INSTANCE, found.model)  # Model(...)
        if not isinstance(func, ast.Attribute):
            return None
        owner = self.resolve(func.value, env)
        if owner is None:
            return None
        if owner.kind == QUERYSET:
            if func.attr in QUERYSET_METHODS:
                return owner
            if func.attr in INSTANCE_METHODS:
                return Ref(INSTANCE, owner.model)
            if func.attr in PAIR_METHODS:
                return Ref(PAIR, owner.model)
        if owner.kind == VIEW:
            if func.attr == "get_object":
                return Ref(INSTANCE, owner.model)
            if func.attr in ("get_queryset", "filter_queryset"):
                return Ref(QUERYSET, owner.model)
        return None

    def _returned(self, func: ast.expr) -> Ref | None:
        """What a call of a function returns, by its return annotation: a function of this
        module, a method of the class being read (``self._locked()``), or an imported
        function of the project (``review.approve``)."""
        if isinstance(func, ast.Name) and func.id in self.functions and func.id not in self.module_aliases:
            return self._annotation(self.functions[func.id], self.module_env, pairs=True)
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "self"
            and func.attr in self.methods
        ):
            return self._annotation(self.methods[func.attr], self.module_env, pairs=True)
        dotted = self._dotted(func)
        if dotted is None or dotted.split(".")[0] not in PACKAGES:
            return None
        module, _, name = dotted.rpartition(".")
        return _imported_return(module, name)

    # -- scopes ------------------------------------------------------------------------------

    def _annotation(self, node: ast.expr | None, env: dict[str, Ref], *, pairs: bool = False) -> Ref | None:
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(node, ast.BinOp):  # Asset | None
            return self._annotation(node.left, env) or self._annotation(node.right, env)
        if (
            pairs
            and isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "tuple"
            and isinstance(node.slice, ast.Tuple)
        ):
            first = self._annotation(node.slice.elts[0], env)  # -> tuple[Asset, str]
            return Ref(PAIR, first.model) if first is not None and first.kind == INSTANCE else None
        found = self.resolve(node, env)
        if found is not None and found.kind == CLASS:
            return Ref(INSTANCE, found.model)
        if found is not None and found.kind == GENERIC:
            return Ref(QUERYSET, found.model)  # QuerySet[Asset], list[Asset]
        return None

    def _bind(self, target: ast.expr, value: Ref | None, env: dict[str, Ref]) -> bool:
        if value is None:
            return False
        if isinstance(target, ast.Name):
            if env.get(target.id) == value:
                return False
            env[target.id] = value
            return True
        if isinstance(target, ast.Tuple | ast.List) and value.kind == PAIR and target.elts:
            return self._bind(target.elts[0], Ref(INSTANCE, value.model), env)
        return False

    def _scope_nodes(self, body: list[ast.stmt]) -> Iterator[ast.AST]:
        """Every node of a scope; nested functions and classes are yielded, not entered."""
        stack: list[ast.AST] = list(body)
        while stack:
            node = stack.pop()
            yield node
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                stack.extend(ast.iter_child_nodes(node))

    def _scope(self, body: list[ast.stmt], env: dict[str, Ref]) -> None:
        nodes = list(self._scope_nodes(body))
        for _ in range(5):  # names assigned from names: a few rounds reach a fixed point
            changed = False
            for node in nodes:
                if isinstance(node, ast.Assign):
                    value = self.resolve(node.value, env)
                    for target in node.targets:
                        changed |= self._bind(target, value, env)
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    value = self.resolve(node.value, env) or self._annotation(node.annotation, env)
                    changed |= self._bind(node.target, value, env)
                elif isinstance(node, ast.NamedExpr):
                    changed |= self._bind(node.target, self.resolve(node.value, env), env)
                elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                    found = self.resolve(node.iter, env)
                    if found is not None and found.kind == QUERYSET:
                        changed |= self._bind(node.target, Ref(INSTANCE, found.model), env)
                elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                    changed |= self._bind(node.optional_vars, self.resolve(node.context_expr, env), env)
            if not changed:
                break
        for node in nodes:
            if isinstance(node, ast.Call):
                self._check_call(node, env)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                inner = dict(env)
                arguments = node.args
                for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                    if arg.arg in ("self", "cls") and arg.annotation is None:
                        continue  # the class's meaning of self (a model, or a view of one)
                    inner.pop(arg.arg, None)
                    self._bind(ast.Name(arg.arg), self._annotation(arg.annotation, env), inner)
                for arg in (arguments.vararg, arguments.kwarg):
                    if arg is not None:
                        inner.pop(arg.arg, None)
                body = node.body if isinstance(node.body, list) else [ast.Expr(node.body)]
                self._scope(body, inner)
            elif isinstance(node, ast.ClassDef):
                self._class(node, env)

    def _class(self, node: ast.ClassDef, env: dict[str, Ref]) -> None:
        outer_methods = self.methods
        self.methods = {
            item.name: item.returns
            for item in node.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        inner = dict(env)
        own = self.by_path.get((self.module, node.name))
        if own is not None:
            inner["self"] = Ref(INSTANCE, own)
        else:
            for base in node.bases:
                found = self.resolve(base, env)
                if found is not None and found.kind in (GENERIC, VIEW):
                    inner["self"] = Ref(VIEW, found.model)
        self._scope(node.body, inner)
        self.methods = outer_methods

    def _check_call(self, node: ast.Call, env: dict[str, Ref]) -> None:
        func = node.func
        if self._dotted(func) in BULK_LOADERS:
            # load_rows(Model, rows): a write of Model that no method name reveals.
            given = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "model"), None)
            found = self.resolve(given, env)
            if found is not None and found.kind == CLASS and not may_write(self.module, found.model):
                self.writes.append(Write(self.module, node.lineno, found.model, "load_rows"))
            return
        if not isinstance(func, ast.Attribute):
            return
        if func.attr not in WRITE_METHODS and func.attr not in RELATED_WRITE_METHODS:
            return
        owner = self.resolve(func.value, env)
        if owner is None or owner.kind not in (QUERYSET, INSTANCE):
            return
        if func.attr in RELATED_WRITE_METHODS and owner.kind != QUERYSET:
            return
        if func.attr == "create" and owner.kind == INSTANCE:
            return
        if not may_write(self.module, owner.model):
            self.writes.append(Write(self.module, node.lineno, owner.model, func.attr))

    def run(self) -> list[Write]:
        # Module-level names count too: aliases of generics (``_Admin = admin.ModelAdmin[Profile]``).
        self.module_env = self._imports()
        self._scope(self.tree.body, self.module_env)
        return self.writes


@functools.cache
def _imported_return(module: str, name: str) -> Ref | None:
    """What the project's function ``module.name`` returns, read from its annotations."""
    try:
        function = getattr(importlib.import_module(module), name)
        returned = inspect.get_annotations(function, eval_str=True).get("return")
    except Exception:  # not a module, not a function, or an annotation only a type checker reads
        return None
    if isinstance(returned, type) and issubclass(returned, models.Model):
        return Ref(INSTANCE, returned)
    args = typing.get_args(returned)
    first = args[0] if typing.get_origin(returned) is tuple and args else None
    if isinstance(first, type) and issubclass(first, models.Model):
        return Ref(PAIR, first)
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> list[Path]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not EXCLUDED_DIRS & set(path.relative_to(ROOT).parts):
                found.append(path)
    return found


def writes_in(source: str, module: str) -> list[Write]:
    return Checker(module, ast.parse(source)).run()
