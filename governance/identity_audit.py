"""Every change of identity and role reaches the audit chain, whoever makes it and however.

Accounts and roles are Django's own models (``auth.User``, ``auth.Group``) and DRF's
``Token``; they are changed by Django's admin, ``createsuperuser``, ``changepassword``,
``drf_create_token``, a shell, as well as by Hallmark. None of those call a Hallmark service,
so this module listens to the model signals instead and writes the audit events, naming the
actor that ``governance.acting`` finds (the request's user, or ``system:<command>``):

- ``user.created``, ``user.changed`` (username, active, staff and superuser flags, old and
  new; which personal fields changed, without their values), ``user.password_changed`` (never
  the hash), ``user.deleted``;
- ``user.groups_changed`` (roles are groups) and ``user.permissions_changed``, from either side
  of the relation and for ``clear()``; ``group.created``, ``group.renamed``, ``group.deleted``,
  ``group.permissions_changed``;
- ``token.created``, ``token.deleted`` (the user, and at most a 6-character fingerprint of
  the key: never the key, which is also the token's primary key);
- ``auth.login``, ``auth.login_failed`` (for existing accounts only, not while locked out),
  ``auth.locked_out`` (once, when django-axes locks an account out from an address).

``last_login`` updates are ignored: a login is one ``auth.login`` event, not a changed user.

Events are written inside the change's transaction when one is open (the admin, the m2m
managers and ``delete()`` open one), else right after the change commits: Django's
``save()`` of a single model opens no transaction of its own. ``QuerySet.update()`` and
``bulk_create()`` send no signals and are not seen here; nothing in Hallmark uses them on
these models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.dispatch import Signal
from rest_framework.authtoken.models import Token, TokenProxy

from governance import roles
from governance.acting import current_actor
from governance.audit_trail import record_event

# Fields whose old and new values an event records; personal fields are named, not copied,
# because the audit log is append-only and keeps what it is given for good.
_FLAG_FIELDS = ("username", "is_active", "is_staff", "is_superuser")
_PERSONAL_FIELDS = ("email", "first_name", "last_name")
_STASH = "_hallmark_identity_before"


def _record(action: str, target: models.Model | tuple[str, str], data: Mapping[str, Any]) -> None:
    actor = current_actor()
    payload = dict(data)
    if actor.user is None and actor.via:
        payload["via"] = actor.via
    # record_event joins the change's transaction when one is open, else opens its own.
    record_event(action, acting_user=actor.user, system_actor=actor.system, target=target, data=payload)


def _only_last_login(update_fields: Iterable[str] | None) -> bool:
    return update_fields is not None and set(update_fields) <= {"last_login"}


# --- users -------------------------------------------------------------------------------------


def _user_pre_save(sender: type[User], instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    # Fixtures (loaddata: ``raw``) are audited too: a fixture can make a superuser.
    if instance.pk is None or _only_last_login(update_fields):
        return
    before = (
        sender._default_manager.filter(pk=instance.pk)
        .values(*_FLAG_FIELDS, *_PERSONAL_FIELDS, "password")
        .first()
    )
    setattr(instance, _STASH, before)


def _user_post_save(
    sender: type[User], instance: User, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if _only_last_login(update_fields):
        return
    if created:
        _record(
            "user.created",
            instance,
            {
                **{name: getattr(instance, name) for name in _FLAG_FIELDS},
                "has_usable_password": instance.has_usable_password(),
            },
        )
        return
    before: dict[str, Any] | None = instance.__dict__.pop(_STASH, None)
    if before is None:
        return
    changes = {
        name: [before[name], getattr(instance, name)]
        for name in _FLAG_FIELDS
        if before[name] != getattr(instance, name)
    }
    personal = [name for name in _PERSONAL_FIELDS if before[name] != getattr(instance, name)]
    if changes or personal:
        data: dict[str, Any] = {"username": instance.get_username(), "changes": changes}
        if personal:
            data["personal_fields_changed"] = personal
        _record("user.changed", instance, data)
    if before["password"] != instance.password:
        # set_password() keeps the raw password until the save; a hash written without it is
        # a rehash on login (a stronger hasher) or a hash set directly.
        how = "set_password" if getattr(instance, "_password", None) is not None else "hash_replaced"
        _record(
            "user.password_changed",
            instance,
            {"username": instance.get_username(), "how": how, "usable": instance.has_usable_password()},
        )


def _user_pre_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    setattr(instance, _STASH, sorted(instance.groups.values_list("name", flat=True)))


def _user_post_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    _record(
        "user.deleted",
        ("auth.user", str(instance.pk)),
        {"username": instance.get_username(), "groups": instance.__dict__.pop(_STASH, [])},
    )


# --- groups (roles) ----------------------------------------------------------------------------


def _group_pre_save(sender: type[Group], instance: Group, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    setattr(
        instance,
        _STASH,
        sender._default_manager.filter(pk=instance.pk).values_list("name", flat=True).first(),
    )


def _group_post_save(sender: type[Group], instance: Group, created: bool, **kwargs: Any) -> None:
    if created:
        _record("group.created", instance, {"name": instance.name})
        return
    before = instance.__dict__.pop(_STASH, None)
    if before is not None and before != instance.name:
        data: dict[str, Any] = {"name": [before, instance.name]}
        if before in roles.ROLES or instance.name in roles.ROLES:
            # Roles are groups by name: renaming one takes a role from its members or gives one.
            data["members"] = sorted(instance.user_set.values_list("username", flat=True))
            data["role"] = [before if before in roles.ROLES else None, instance.name if instance.name in roles.ROLES else None]
        _record("group.renamed", instance, data)


def _group_pre_delete(sender: type[Group], instance: Group, **kwargs: Any) -> None:
    # Memberships go with the group without an m2m signal: name the members here.
    setattr(instance, _STASH, sorted(instance.user_set.values_list("username", flat=True)))


def _group_post_delete(sender: type[Group], instance: Group, **kwargs: Any) -> None:
    _record(
        "group.deleted",
        ("auth.group", str(instance.pk)),
        {"name": instance.name, "members": instance.__dict__.pop(_STASH, [])},
    )


# --- memberships and permissions (many-to-many) ------------------------------------------------


def _label(obj: models.Model) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, User):
        return obj.get_username()
    return str(getattr(obj, "name", obj.pk))


# through table -> (owner model, event action): events are about the owner (a user or group).
_RELATIONS: dict[type[models.Model], tuple[type[models.Model], str, str]] = {
    User.groups.through: (User, "user.groups_changed", "groups"),
    User.user_permissions.through: (User, "user.permissions_changed", "permissions"),
    Group.permissions.through: (Group, "group.permissions_changed", "permissions"),
}
_M2M_STASH = "_hallmark_m2m_pairs"


def _pairs(
    sender: type[models.Model], instance: models.Model, reverse: bool, pk_set: Any
) -> list[tuple[Any, Any]]:
    """The (owner pk, item pk) pairs a change touches that exist now (``pk_set`` None: all)."""
    owner_model, _, _ = _RELATIONS[sender]
    through = sender._meta
    owner_field = next(f for f in through.fields if f.is_relation and f.related_model is owner_model).attname
    item_field = next(
        f.attname for f in through.fields if f.is_relation and f.attname not in (owner_field, "id")
    )
    rows = sender._default_manager.filter(**{item_field if reverse else owner_field: instance.pk})
    if pk_set is not None:
        rows = rows.filter(**{f"{owner_field if reverse else item_field}__in": pk_set})
    return list(rows.values_list(owner_field, item_field))


def _m2m_changed(
    sender: type[models.Model],
    instance: models.Model,
    action: str,
    reverse: bool,
    model: type[models.Model],
    pk_set: set[Any] | None,
    **kwargs: Any,
) -> None:
    if sender not in _RELATIONS:
        return
    if action in ("pre_remove", "pre_clear"):
        stash = instance.__dict__.setdefault(_M2M_STASH, {})
        stash[sender] = _pairs(sender, instance, reverse, pk_set if action == "pre_remove" else None)
        return
    if action == "post_add":
        key = "added"
        owner_pks = [instance.pk] if not reverse else list(pk_set or ())
        pairs = [(o, i) for o in owner_pks for i in ((pk_set or ()) if not reverse else [instance.pk])]
    elif action in ("post_remove", "post_clear"):
        key = "removed"
        pairs = instance.__dict__.get(_M2M_STASH, {}).pop(sender, [])
    else:
        return
    if not pairs:
        return
    owner_model, event, noun = _RELATIONS[sender]
    item_model = model if not reverse else type(instance)
    owners = owner_model._default_manager.in_bulk({o for o, _ in pairs})
    item_rows = item_model._default_manager.all()
    if item_model is Permission:
        item_rows = item_rows.select_related("content_type")
    items = item_rows.in_bulk({i for _, i in pairs})
    for owner_pk in sorted({o for o, _ in pairs}):
        owner = owners.get(owner_pk)
        if owner is None:
            continue
        names = sorted(_label(items[i]) for o, i in pairs if o == owner_pk and i in items)
        data: dict[str, Any] = {"name" if isinstance(owner, Group) else "username": _label(owner), key: names}
        if action == "post_clear":
            data["cleared"] = True
        if isinstance(owner, User) and noun == "groups":
            data["groups_now"] = sorted(owner.groups.values_list("name", flat=True))
        _record(event, owner, data)


# --- tokens ------------------------------------------------------------------------------------


def _token_fingerprint(key: str) -> str:
    """Six hex digits of the key's sha256: tells two tokens apart, reveals nothing of the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:6]


def _token_data(token: Token) -> dict[str, Any]:
    return {"username": token.user.get_username(), "key_sha256_prefix": _token_fingerprint(token.key)}


_TOKEN_OWNER = "_hallmark_token_owner_before"


def _token_pre_save(sender: type[Token], instance: Token, **kwargs: Any) -> None:
    # A token moved to another user hands that user's identity to whoever knows the key.
    before = sender._default_manager.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    setattr(instance, _TOKEN_OWNER, before)


def _token_post_save(sender: type[Token], instance: Token, created: bool, **kwargs: Any) -> None:
    # The target is the user: a token's primary key is the secret itself.
    if created:
        _record("token.created", ("auth.user", str(instance.user_id)), _token_data(instance))
        return
    before = getattr(instance, _TOKEN_OWNER, None)
    if before is not None and before != instance.user_id:
        previous = User._default_manager.filter(pk=before).values_list("username", flat=True).first()
        _record(
            "token.reassigned",
            ("auth.user", str(instance.user_id)),
            {**_token_data(instance), "previous_username": previous, "previous_user_id": before},
        )


def _token_post_delete(sender: type[Token], instance: Token, **kwargs: Any) -> None:
    _record("token.deleted", ("auth.user", str(instance.user_id)), _token_data(instance))


# --- logins ------------------------------------------------------------------------------------


def _logged_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    record_event("auth.login", acting_user=user, target=user, data={"username": user.get_username()})


def _existing_user(username: Any) -> User | None:
    if not isinstance(username, str) or not username or len(username) > 150:
        return None
    return User._default_manager.filter(username=username).first()


def _login_failed(sender: Any, credentials: Mapping[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Attempts refused because the account is already locked out are django-axes' to count: an
    # attacker hammering a locked account must not grow the audit chain.
    if request is not None and getattr(request, "axes_locked_out", False):
        return
    user = _existing_user(credentials.get("username"))
    if user is None:
        # Unknown names are not recorded: a password typed into the username field would be.
        return
    record_event(
        "auth.login_failed",
        acting_user=None,
        system_actor="anonymous",
        target=user,
        data={"username": user.get_username()},
    )


def _locked_out(sender: Any, request: Any = None, username: Any = None, **kwargs: Any) -> None:
    # django-axes signals every refused attempt; the audit chain gets the moment of lockout.
    failures = getattr(request, "axes_failures_since_start", None)
    if failures != settings.AXES_FAILURE_LIMIT:
        return
    user = _existing_user(username)
    if user is None:
        return
    record_event(
        "auth.locked_out",
        acting_user=None,
        system_actor="anonymous",
        target=user,
        data={"username": user.get_username(), "failures": failures},
    )


def _receivers() -> list[tuple[Signal, Callable[..., None], Any]]:
    """(signal, receiver, sender) for every change this module audits."""
    from axes.signals import user_locked_out  # imported late: importing it connects django-axes' receivers

    wired: list[tuple[Signal, Callable[..., None], Any]] = [
        (pre_save, _user_pre_save, User),
        (post_save, _user_post_save, User),
        (pre_delete, _user_pre_delete, User),
        (post_delete, _user_post_delete, User),
        (pre_save, _group_pre_save, Group),
        (post_save, _group_post_save, Group),
        (pre_delete, _group_pre_delete, Group),
        (post_delete, _group_post_delete, Group),
        *((m2m_changed, _m2m_changed, through) for through in _RELATIONS),
        (user_logged_in, _logged_in, None),
        (user_login_failed, _login_failed, None),
        (user_locked_out, _locked_out, None),
    ]
    # DRF's admin edits tokens through a proxy model, whose signals name the proxy as sender.
    for model in (Token, TokenProxy):
        wired += [
            (pre_save, _token_pre_save, model),
            (post_save, _token_post_save, model),
            (post_delete, _token_post_delete, model),
        ]
    return wired


def _uid(receiver: Callable[..., None], sender: Any) -> str:
    label = sender._meta.label_lower if sender is not None else "any"
    return f"hallmark-identity-audit:{receiver.__name__}:{label}"


def connect() -> None:
    """Connect the receivers (``GovernanceConfig.ready``); connecting twice connects once."""
    for signal, receiver, sender in _receivers():
        signal.connect(receiver, sender=sender, dispatch_uid=_uid(receiver, sender))


def disconnect() -> None:
    """Disconnect them again: for tests about something else that count audit events exactly."""
    for signal, receiver, sender in _receivers():
        signal.disconnect(receiver, sender=sender, dispatch_uid=_uid(receiver, sender))
