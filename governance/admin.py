"""Django admin: the organisation profile (saved through its service, so changes are audited)
and API tokens (made and deleted, never shown in full or moved to another user)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin as DRFTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from governance import organisation, roles
from governance.models import OrganisationProfile
from hallmark.errors import InvalidInput

# Django's form and admin classes are generic only in the type stubs, not at run time.
if TYPE_CHECKING:
    _ProfileForm = ModelForm[OrganisationProfile]
    _ProfileAdmin = admin.ModelAdmin[OrganisationProfile]
else:
    _ProfileForm = ModelForm
    _ProfileAdmin = admin.ModelAdmin


class OrganisationProfileForm(_ProfileForm):
    """Validates the profile with the same rules as the API."""

    class Meta:
        model = OrganisationProfile
        fields = ["commercial_use", "revenue_band", "enterprise_licenses"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            organisation.clean_profile(
                {
                    "commercial_use": cleaned.get("commercial_use"),
                    "revenue_band": cleaned.get("revenue_band"),
                    "enterprise_licenses": cleaned.get("enterprise_licenses") or [],
                }
            )
        except InvalidInput as exc:
            raise ValidationError({k: v for k, v in exc.errors.items()}) from None
        return cleaned


@admin.register(OrganisationProfile)
class OrganisationProfileAdmin(_ProfileAdmin):
    """One row; never deleted; every save goes through ``organisation.update_profile``."""

    form = OrganisationProfileForm
    list_display = ["__str__", "commercial_use", "revenue_band", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Django's model permissions alone would let any staff user holding them change the
        # licence policy; the organisation profile is Hallmark's admin role's to set.
        return (
            roles.has_role(request.user, roles.ADMIN)
            and not OrganisationProfile.objects.exists()
            and super().has_add_permission(request)
        )

    def has_change_permission(self, request: HttpRequest, obj: OrganisationProfile | None = None) -> bool:
        return roles.has_role(request.user, roles.ADMIN) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: OrganisationProfile | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: OrganisationProfile, form: Any, change: bool) -> None:
        organisation.update_profile(
            {
                "commercial_use": obj.commercial_use,
                "revenue_band": obj.revenue_band,
                "enterprise_licenses": list(obj.enterprise_licenses or []),
            },
            acting_user=request.user,
        )


# DRF's token admin shows every key in full on its list page and lets a token be moved to
# another user, which hands that user's identity to whoever knows the key. Hallmark's shows
# a fingerprint of the key and lets a token be made or deleted, never moved.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(DRFTokenAdmin):
    """API tokens: created and deleted here (both audited), never shown in full, never moved."""

    list_display = ("user", "key_fingerprint", "created")

    @admin.display(description="key (sha256 prefix)")
    def key_fingerprint(self, token: TokenProxy) -> str:
        """Tells two tokens apart without showing the secret."""
        return hashlib.sha256(token.key.encode()).hexdigest()[:6]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user",) if obj is not None else ()
