"""The OpenAPI shapes of the provenance endpoints (``assets.provenance_api``): documentation only."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

ERROR = inline_serializer(
    "ProvenanceError",
    fields={
        "detail": serializers.CharField(),
        "errors": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    },
)

CREDENTIALS_FIELDS: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "sha256": serializers.CharField(help_text="sha256 of the bytes read."),
    "mime_type": serializers.CharField(),
    "validation_state": serializers.ChoiceField(
        choices=["Trusted", "Valid", "Invalid"],
        allow_null=True,
        help_text="C2PA validation: Trusted (chains to a configured trust anchor), Valid (intact, "
        "signer not trusted here), Invalid, or null when the file has no manifest.",
    ),
    "validation_errors": serializers.ListField(child=serializers.DictField(child=serializers.CharField())),
    "reader_error": serializers.CharField(allow_null=True),
    "summary": serializers.DictField(
        allow_null=True,
        help_text="claim_generator, created_action, digital_source_type, software_agent, hallmark "
        "(the Hallmark assertion), training_mining, signature.",
    ),
    "manifest": serializers.DictField(
        allow_null=True, help_text="The active manifest as the C2PA SDK reads it."
    ),
    "xmp_digital_source_type": serializers.CharField(allow_null=True),
    "made_by_hallmark": serializers.BooleanField(),
    "signed_by_hallmark": serializers.BooleanField(
        help_text="The manifest's signing certificate is Hallmark's own (or a previous one), not "
        "merely another signer under the same trust anchors."
    ),
    "asset_matches": serializers.ListField(
        child=inline_serializer(
            "ProvenanceAssetMatch",
            fields={
                "asset_id": serializers.UUIDField(
                    allow_null=True,
                    help_text="null when the caller may not see assets (a user without a role).",
                ),
                "method": serializers.ChoiceField(
                    choices=["manifest", "sha256", "pixels"], help_text="The strongest evidence found."
                ),
                "sha256": serializers.BooleanField(help_text="The bytes are exactly the stored file's."),
                "pixels": serializers.BooleanField(help_text="The decoded pixels are the stored image's."),
                "manifest": serializers.BooleanField(
                    help_text="A trusted manifest's Hallmark assertion names this asset."
                ),
            },
        )
    ),
    "likely_copy_of": serializers.ListField(
        help_text="Only when asset_matches is empty: assets the image looks like a copy of by a "
        "soft binding. Not proof of origin (a watermark can be copied, a look-alike can match).",
        child=inline_serializer(
            "ProvenanceLikelyCopy",
            fields={
                "asset_id": serializers.UUIDField(allow_null=True, help_text="null for a user without a role."),
                "method": serializers.ChoiceField(choices=["watermark", "fingerprint"]),
                "distance": serializers.IntegerField(
                    help_text="Bits between what was read and what was recorded: of 64 for "
                    "`watermark`, of 256 for `fingerprint`."
                ),
            },
        ),
    ),
}

ASSET_PROVENANCE = inline_serializer(
    "AssetProvenance",
    fields={
        "asset_id": serializers.UUIDField(),
        "file": inline_serializer(
            "AssetProvenanceFile",
            fields={
                "present": serializers.BooleanField(),
                "recorded_sha256": serializers.CharField(),
                "actual_sha256": serializers.CharField(allow_null=True),
                "matches_record": serializers.BooleanField(
                    help_text="The stored bytes still hash to the sha256 recorded when the asset was made."
                ),
            },
        ),
        "validation_state": CREDENTIALS_FIELDS["validation_state"],
        "manifest_names_asset": serializers.BooleanField(allow_null=True),
        "xmp_digital_source_type": serializers.CharField(allow_null=True),
        "problems": serializers.DictField(child=serializers.CharField()),
        "credentials": inline_serializer("AssetCredentials", fields=CREDENTIALS_FIELDS, allow_null=True),
    },
)

VERIFY_RESULT = inline_serializer(
    "ProvenanceVerification",
    fields={
        "image": inline_serializer(
            "VerifiedImage",
            fields={
                "format": serializers.CharField(),
                "width": serializers.IntegerField(),
                "height": serializers.IntegerField(),
                "byte_size": serializers.IntegerField(),
            },
        ),
        **CREDENTIALS_FIELDS,
        "made_by_this_organisation": serializers.BooleanField(
            help_text="A live asset of this Hallmark matches by exact bytes, pixels or a trusted "
            "Hallmark manifest (the same as made_by_hallmark); shown to every signed-in caller, "
            "with the asset only to those who may see it."
        ),
        "likely_copy_of_this_organisation": serializers.BooleanField(
            help_text="Nothing matched exactly, but a soft binding (watermark or fingerprint) "
            "found an asset this image is likely a copy of; never proof that Hallmark made it."
        ),
    },
)
