"""``/api/v1/routing-policies/``, ``/api/v1/routing/breakers/``, ``/api/v1/budgets/`` and
``/api/v1/spend/``. Every role reads policies and breakers (they name no configuration); only
admins change policies, and only admins see or set budgets and spend."""

from __future__ import annotations

import datetime
import re
from typing import Any, cast

from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.permissions import IsAdmin, IsViewer
from hallmark.api import invalid
from plugins import registry
from routing import breakers, budgets, policies, spend
from routing.models import BreakerState, Budget, RoutingPolicy


def _user(request: Request) -> User:
    """The signed-in user (the permission classes turned everyone else away)."""
    return cast(User, request.user)


_BAD_REQUEST = OpenApiResponse(description="Invalid input; `errors` names each field at fault")


class BreakerSettingsSerializer(serializers.Serializer[Any]):
    """When a plugin's circuit breaker opens, and when it lets a probe through."""

    failures = serializers.IntegerField(min_value=1, max_value=100, default=3)
    probe_after_s = serializers.IntegerField(min_value=1, max_value=86400, default=60)


class RoutingPolicySerializer(serializers.Serializer[Any]):
    """A routing policy. Plugin ids must be installed plugins; errors name e.g. `tiers.draft[1]`."""

    name = serializers.SlugField(max_length=63)
    tiers = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='`{"draft": [plugin ids in order of preference], "final": [...]}`; at least one tier.',
    )
    max_cost_per_image_usd = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True
    )
    required_capabilities = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="e.g. `typography`, `negative_prompt`."
    )
    breaker = BreakerSettingsSerializer(required=False)
    default = serializers.BooleanField(
        required=False, help_text="Use this policy for requests that name a tier but no policy."
    )


class RoutingPolicyViewSet(viewsets.ViewSet):
    """Routing policies: which plugins serve each tier, in order. Admins write; every role reads."""

    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]{1,63}"

    def get_permissions(self) -> list[Any]:
        if self.action in ("list", "retrieve"):
            return [IsViewer()]
        return [IsAdmin()]

    def _get(self, name: str) -> RoutingPolicy:
        policy = RoutingPolicy.objects.filter(name=name).first()
        if policy is None:
            raise NotFound(f"No routing policy is named {name!r}.")
        return policy

    @extend_schema(responses=RoutingPolicySerializer(many=True))
    def list(self, request: Request) -> Response:
        """Every policy, by name."""
        return Response([policies.as_dict(p) for p in RoutingPolicy.objects.all()])

    @extend_schema(responses=RoutingPolicySerializer)
    def retrieve(self, request: Request, name: str) -> Response:
        """One policy."""
        return Response(policies.as_dict(self._get(name)))

    @extend_schema(
        request=RoutingPolicySerializer, responses={201: RoutingPolicySerializer, 400: _BAD_REQUEST}
    )
    def create(self, request: Request) -> Response:
        """Create a policy (admins; audited as `routing.policy_created`)."""
        policy = policies.create_policy(request.data, acting_user=_user(request))
        return Response(policies.as_dict(policy), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RoutingPolicySerializer, responses={200: RoutingPolicySerializer, 400: _BAD_REQUEST}
    )
    def update(self, request: Request, name: str) -> Response:
        """Replace a policy (admins; audited as `routing.policy_changed`)."""
        policy = policies.change_policy(
            self._get(name),
            request.data,
            acting_user=_user(request),
            partial=False,
        )
        return Response(policies.as_dict(policy))

    @extend_schema(
        request=RoutingPolicySerializer, responses={200: RoutingPolicySerializer, 400: _BAD_REQUEST}
    )
    def partial_update(self, request: Request, name: str) -> Response:
        """Change some fields of a policy (admins; audited as `routing.policy_changed`)."""
        policy = policies.change_policy(
            self._get(name),
            request.data,
            acting_user=_user(request),
            partial=True,
        )
        return Response(policies.as_dict(policy))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, name: str) -> Response:
        """Delete a policy (admins; audited as `routing.policy_deleted`). Jobs keep its name."""
        policies.delete_policy(self._get(name), acting_user=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


_BREAKER = inline_serializer(
    "PluginBreaker",
    {
        "plugin": serializers.CharField(),
        "state": serializers.ChoiceField(choices=BreakerState.choices),
        "consecutive_failures": serializers.IntegerField(),
        "opened_at": serializers.DateTimeField(allow_null=True),
        "last_probe_at": serializers.DateTimeField(allow_null=True),
        "last_failure": serializers.CharField(help_text="The error code of the latest failure."),
    },
    many=True,
)


class BreakerListView(APIView):
    """``GET /api/v1/routing/breakers/``: the circuit breaker of every installed plugin."""

    permission_classes = [IsViewer]

    @extend_schema(responses=_BREAKER)
    def get(self, request: Request) -> Response:
        """State per plugin: closed, open or half_open (a plugin that never failed is closed)."""
        rows = breakers.states()
        shown = []
        for plugin_id in sorted(registry.discover()):
            row = rows.get(plugin_id)
            shown.append(
                {
                    "plugin": plugin_id,
                    "state": row.state if row else BreakerState.CLOSED,
                    "consecutive_failures": row.consecutive_failures if row else 0,
                    "opened_at": row.opened_at if row else None,
                    "last_probe_at": row.last_probe_at if row else None,
                    "last_failure": row.last_failure if row else "",
                }
            )
        return Response(shown)


class BudgetSerializer(serializers.Serializer[Any]):
    """A monthly budget of a user or of a group (exactly one), with this month's spend."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {
            "id": serializers.IntegerField(read_only=True),
            "user": serializers.CharField(required=False, help_text="Username (or give `group`)."),
            "group": serializers.CharField(required=False, help_text="Group name (or give `user`)."),
            "monthly_limit_usd": serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0),
            "spent_usd": serializers.CharField(read_only=True, help_text="Spent and reserved this month."),
            "left_usd": serializers.CharField(read_only=True),
        }


def _budget_data(budget: Budget, month: datetime.date) -> dict[str, Any]:
    used = (
        spend.spent(month, user=budget.user)
        if budget.user_id
        else spend.spent(month, group_id=budget.group_id)
    )
    return {
        "id": budget.pk,
        "user": budget.user.username if budget.user else None,
        "group": budget.group.name if budget.group else None,
        "monthly_limit_usd": f"{budget.monthly_limit_usd:.2f}",
        "spent_usd": f"{used:.6f}",
        "left_usd": f"{max(budget.monthly_limit_usd - used, 0):.6f}",
    }


class BudgetViewSet(viewsets.ViewSet):
    """Monthly budgets per user or group (admins only; every change audited)."""

    permission_classes = [IsAdmin]
    lookup_value_regex = "[0-9]{1,18}"

    def _queryset(self) -> QuerySet[Budget]:
        return Budget.objects.select_related("user", "group")

    @extend_schema(responses=BudgetSerializer(many=True))
    def list(self, request: Request) -> Response:
        """Every budget, with what was spent (and is reserved) this month."""
        month = spend.month_of()
        return Response([_budget_data(b, month) for b in self._queryset()])

    @extend_schema(
        request=BudgetSerializer,
        responses={201: BudgetSerializer, 200: BudgetSerializer, 400: _BAD_REQUEST},
    )
    def create(self, request: Request) -> Response:
        """Set the budget of a user or a group: 201 when new, 200 when it changed an existing one."""
        body = request.data
        if not isinstance(body, dict):
            return invalid({"non_field_errors": ["The request body must be a JSON object."]})
        unknown = sorted(set(body) - {"user", "group", "monthly_limit_usd"})
        if unknown:
            return invalid({name: ["Unknown field."] for name in unknown})
        if ("user" in body) == ("group" in body):
            return invalid(
                {"non_field_errors": ["Give either `user` (a username) or `group` (a group name)."]}
            )
        user = group = None
        if "user" in body:
            user = (
                User.objects.filter(username=body["user"]).first() if isinstance(body["user"], str) else None
            )
            if user is None:
                return invalid({"user": ["No such user."]})
        else:
            group = (
                Group.objects.filter(name=body["group"]).first() if isinstance(body["group"], str) else None
            )
            if group is None:
                return invalid({"group": ["No such group."]})
        limit = budgets.clean_limit(body.get("monthly_limit_usd"))
        budget, created = budgets.set_budget(
            acting_user=_user(request),
            limit=limit,
            user=user,
            group=group,
        )
        return Response(
            _budget_data(budget, spend.month_of()),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)], responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        """Remove a budget (audited as `routing.budget_removed`)."""
        budget = self._queryset().filter(pk=int(pk)).first()
        if budget is None:
            raise NotFound()
        budgets.remove_budget(budget, acting_user=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


_SPEND_ROW: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "amount_usd": serializers.CharField(help_text="Actual cost of ended jobs."),
    "reserved_usd": serializers.CharField(help_text="Estimates held for queued and running jobs."),
    "jobs": serializers.IntegerField(),
    "images": serializers.IntegerField(),
}
_SPEND = inline_serializer(
    "SpendReport",
    {
        "month": serializers.CharField(),
        "total": inline_serializer("SpendTotal", _SPEND_ROW),
        "by_user": inline_serializer(
            "SpendByUser", {"user": serializers.CharField(), **_SPEND_ROW}, many=True
        ),
        "by_plugin": inline_serializer(
            "SpendByPlugin", {"plugin": serializers.CharField(), **_SPEND_ROW}, many=True
        ),
    },
)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class SpendView(APIView):
    """``GET /api/v1/spend/?month=YYYY-MM``: a month's spend per user and per plugin (admins)."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("month", str, description="`YYYY-MM` (default: this month, UTC).")],
        responses={200: _SPEND, 400: _BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        """Spend per user and per plugin in one month (US dollars)."""
        raw = request.query_params.get("month")
        month = spend.month_of()
        if raw is not None:
            match = _MONTH.fullmatch(raw)
            if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
                return invalid({"month": ["Must be a month as YYYY-MM, e.g. 2026-12."]})
            month = datetime.date(int(match[1]), int(match[2]), 1)
        return Response(spend.report(month))
