"""API token authentication that reads the token, its user and the user's roles in one statement.

DRF's ``TokenAuthentication`` reads the token with its user (one query built by the ORM), and
the first permission check then reads the user's groups (a second one). Both are read on every
API request, and building them took most of a cached asset-list request's time
(docs/benchmarks.md). Here one prepared SQL statement returns the token, the user and the
names of the user's role groups; the roles are kept on this request's user object only
(``governance.roles.remember_role_groups``), never across requests, so a deleted token, a
deactivated user or a removed role takes effect on the very next request, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from governance import roles

_USER_FIELDS = [field for field in User._meta.concrete_fields]
_TOKEN_FIELDS = [field for field in Token._meta.concrete_fields]
_MEMBERSHIP = User.groups.through._meta.db_table
_USER_TABLE, _TOKEN_TABLE, _GROUP_TABLE = User._meta.db_table, Token._meta.db_table, Group._meta.db_table
# One row per role group the user is in (one row with a NULL name when none): a user is in a
# handful of groups at most. Only the four role groups are read; other groups grant nothing.
_SQL = (
    "SELECT "
    + ", ".join([f't."{f.column}"' for f in _TOKEN_FIELDS] + [f'u."{f.column}"' for f in _USER_FIELDS])
    + f', g."name" FROM "{_TOKEN_TABLE}" t'
    + f' JOIN "{_USER_TABLE}" u ON u."id" = t."user_id"'
    + f' LEFT JOIN "{_MEMBERSHIP}" ug ON ug."user_id" = u."id"'
    + f' LEFT JOIN "{_GROUP_TABLE}" g ON g."id" = ug."group_id" AND g."name" IN ({", ".join(["%s"] * len(roles.ROLES))})'
    + ' WHERE t."key" = %s'
)


def _python(fields: list[models.Field[Any, Any]], values: tuple[Any, ...]) -> list[Any]:
    # SQLite hands datetimes back naive (stored in UTC); PostgreSQL aware. Booleans come back
    # as bool from both (Django registers SQLite's converter for its "bool" columns).
    out = []
    for field, value in zip(fields, values, strict=True):
        if (
            isinstance(value, datetime)
            and timezone.is_naive(value)
            and isinstance(field, models.DateTimeField)
        ):
            value = value.replace(tzinfo=UTC)
        out.append(value)
    return out


class TokenWithRolesAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, as DRF's, in one statement with the user's roles."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        if "\x00" in key:  # no key holds one, and PostgreSQL refuses it in a parameter
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        with connection.cursor() as cursor:
            cursor.execute(_SQL, [*roles.ROLES, key])
            rows = cursor.fetchall()
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        first = rows[0]
        split = len(_TOKEN_FIELDS)
        user = User.from_db(
            connection.alias,
            [f.attname for f in _USER_FIELDS],
            _python(_USER_FIELDS, first[split : split + len(_USER_FIELDS)]),
        )
        token = Token.from_db(
            connection.alias, [f.attname for f in _TOKEN_FIELDS], _python(_TOKEN_FIELDS, first[:split])
        )
        token.user = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        roles.remember_role_groups(user, [row[-1] for row in rows if row[-1] is not None])
        return user, token
