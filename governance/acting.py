"""Who is acting right now, for audit events written by signal receivers.

Services are told who acts (``acting_user``). Changes made through Django itself (the admin
site, ``createsuperuser``, a shell, DRF's token admin) reach Hallmark only as model signals,
which carry no user: ``ActingUserMiddleware`` keeps the current request in a context variable
so that a receiver can name the user behind it. Outside a request the actor is the process:
``system:<management command>`` (``system:shell``, ``system:createsuperuser``) or
``system:<program>`` (``system:celery``).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse

from governance.audit_trail import ActingUser

#: Commands of ``manage.py`` and ``django-admin``: the actor is named after the subcommand.
_DJANGO_PROGRAMS = {"manage.py", "django-admin", "django-admin.py"}


@dataclass(frozen=True)
class Actor:
    """The user an audit event names, or, when ``user`` is None, the ``system`` component.

    ``via`` says more about a system actor (the process and the operating-system account):
    the audit log has no other trace of who ran a shell.
    """

    user: ActingUser
    system: str = "hallmark"
    via: dict[str, str] = field(default_factory=dict)


_current_request: ContextVar[HttpRequest | None] = ContextVar("hallmark_current_request", default=None)
_override: ContextVar[Actor | None] = ContextVar("hallmark_acting_override", default=None)


class ActingUserMiddleware:
    """Keep the request in a context variable for the duration of the request.

    Put it after ``AuthenticationMiddleware``. The user is read when an event is recorded, not
    here: DRF authenticates a token inside the view and sets ``request.user`` only then.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


@contextmanager
def acting_as(user: ActingUser, system: str = "hallmark") -> Iterator[None]:
    """Name the actor explicitly for the changes made inside the block (a service, a task)."""
    token = _override.set(Actor(user=user, system=system))
    try:
        yield
    finally:
        _override.reset(token)


def process_label(argv: list[str] | None = None) -> str:
    """``shell`` for ``manage.py shell``, ``celery`` for a Celery worker, the program otherwise."""
    argv = sys.argv if argv is None else argv
    if not argv or not argv[0]:
        return "python"
    program = Path(argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name
    if name in _DJANGO_PROGRAMS:
        return argv[1] if len(argv) > 1 and not argv[1].startswith("-") else "manage.py"
    return name.removesuffix(".py") or "python"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name, no passwd entry (some containers)
        return "unknown"


def current_actor() -> Actor:
    """The actor for a change happening now: an explicit ``acting_as``, else the request's user,
    else this process."""
    override = _override.get()
    if override is not None:
        return override
    request = _current_request.get()
    if request is not None:
        user: Any = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return Actor(user=user)
        return Actor(user=None, system="anonymous", via={"path": request.path})
    label = process_label()
    return Actor(user=None, system=label, via={"process": label, "os_user": _os_user()})

