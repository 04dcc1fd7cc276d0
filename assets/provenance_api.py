"""Provenance over the API: what a stored asset's file says, and what any uploaded image says.

``GET /api/v1/assets/{id}/provenance/`` re-hashes the stored file against its record and
re-validates its C2PA manifest. ``POST /api/v1/provenance/verify/`` takes any image and says
what its content credentials say and whether Hallmark made it. Both are thin: the reading lives
in ``governance.provenance.credentials``, the matching to assets in ``assets.verification``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from PIL import Image
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.models import Asset
from assets.provenance_lookup import lookup
from assets.provenance_schema import ASSET_PROVENANCE, ERROR, VERIFY_RESULT
from assets.verification import check_stored_asset
from governance.provenance.safe_image import ImageRefused, open_image_safely
from hallmark.throttling import VerifyThrottle


def _file_error(message: str, status_code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": message, "errors": {"file": [message]}}, status=status_code)


class UploadTooLarge(APIException):
    """The upload is over ``HALLMARK_MAX_UPLOAD_BYTES``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _too_large_message() -> str:
    return f"The upload is larger than the {settings.HALLMARK_MAX_UPLOAD_BYTES} bytes allowed."


class RawImageParser(BaseParser):
    """A raw request body with an image content type; reads at most the upload limit."""

    media_type = "image/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = int(settings.HALLMARK_MAX_UPLOAD_BYTES)
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise UploadTooLarge(_too_large_message())
        return {"file": data}


class OctetStreamParser(RawImageParser):
    """The same, for clients that send ``application/octet-stream``."""

    media_type = "application/octet-stream"


class AssetProvenanceView(APIView):
    """A stored asset's file checked against its record and its content credentials."""

    @extend_schema(
        operation_id="assets_provenance",
        tags=["assets"],
        responses={200: ASSET_PROVENANCE, 404: OpenApiResponse(description="No such asset.")},
        description="Re-hashes the stored file against the asset's recorded sha256, re-validates "
        "its C2PA manifest (Trusted against the configured trust anchors), and reads the XMP "
        "digital source type. `problems` is empty when everything still matches.",
    )
    def get(self, request: Request, asset_id: str) -> Response:
        asset = get_object_or_404(Asset.objects.live(), pk=asset_id)
        check = check_stored_asset(asset)
        report = check.credentials
        return Response(
            {
                "asset_id": check.asset_id,
                "file": {
                    "present": check.file_present,
                    "recorded_sha256": check.recorded_sha256,
                    "actual_sha256": check.actual_sha256,
                    "matches_record": check.file_matches_record,
                },
                "validation_state": report.validation_state if report else None,
                "manifest_names_asset": check.manifest_names_asset,
                "xmp_digital_source_type": report.xmp_digital_source_type if report else None,
                "problems": check.problems,
                "credentials": report.as_dict() if report else None,
            }
        )


class VerifyUploadView(APIView):
    """Verify any image: its content credentials and whether Hallmark made it."""

    parser_classes = [MultiPartParser, RawImageParser, OctetStreamParser]
    # Any signed-in user may ask "did we make this?"; only those who may see assets are told
    # which (assets.provenance_lookup).
    permission_classes = [IsAuthenticated]
    throttle_classes = [*APIView.throttle_classes, VerifyThrottle]

    @extend_schema(
        operation_id="provenance_verify",
        tags=["provenance"],
        request={
            "multipart/form-data": inline_serializer(
                "ProvenanceVerifyUpload", fields={"file": serializers.FileField()}
            ),
            "image/png": OpenApiTypes.BINARY,
            "image/jpeg": OpenApiTypes.BINARY,
            "image/webp": OpenApiTypes.BINARY,
        },
        responses={
            200: VERIFY_RESULT,
            400: OpenApiResponse(
                ERROR, description="No file, not a PNG, JPEG or WebP image, or too many pixels."
            ),
            413: OpenApiResponse(ERROR, description="Larger than HALLMARK_MAX_UPLOAD_BYTES."),
        },
        examples=[
            OpenApiExample(
                "Not an accepted image",
                value={
                    "detail": "Not a PNG, JPEG or WebP image (the only formats accepted).",
                    "errors": {"file": ["Not a PNG, JPEG or WebP image (the only formats accepted)."]},
                },
                response_only=True,
                status_codes=["400"],
            )
        ],
        description="Upload an image (multipart field `file`, or the raw body with an image content "
        "type). The answer says what its C2PA manifest and XMP declare and whether Hallmark made "
        "it: by exact sha256, by decoded pixels, or by a Hallmark assertion in a manifest signed "
        "by a trusted chain. Only PNG, JPEG and WebP are decoded: any other format is refused "
        "(400) without being parsed. Uploads over HALLMARK_MAX_UPLOAD_BYTES (413) and images "
        "declaring more than HALLMARK_MAX_IMAGE_PIXELS pixels (400) are refused before decoding. "
        "Soft-deleted assets are never named in `asset_matches`.",
    )
    def post(self, request: Request) -> Response:
        data = _read_upload(request)
        if isinstance(data, Response):
            return data
        answer = _answer(request, data)
        if isinstance(answer, str):
            return _file_error(answer)
        return Response(answer)


#: The most files one batch request may carry (together within HALLMARK_MAX_UPLOAD_BYTES).
BATCH_MAX_FILES = 20


class VerifyBatchView(APIView):
    """Verify several images in one request, each answered as by ``VerifyUploadView``."""

    parser_classes = [MultiPartParser]
    permission_classes = [IsAuthenticated]
    throttle_classes = [*APIView.throttle_classes, VerifyThrottle]

    @extend_schema(
        operation_id="provenance_verify_batch",
        tags=["provenance"],
        request={
            "multipart/form-data": inline_serializer(
                "ProvenanceVerifyBatchUpload", fields={"file": serializers.ListField(child=serializers.FileField())}
            )
        },
        responses={
            200: inline_serializer(
                "ProvenanceVerificationBatch",
                fields={
                    "results": serializers.ListField(
                        child=serializers.DictField(),
                        help_text="One per file, in order: `index`, `name`, and the single "
                        "endpoint's answer, or `errors` naming why that file was not read.",
                    )
                },
            ),
            400: OpenApiResponse(ERROR, description="No file, or more than 20 files."),
            413: OpenApiResponse(ERROR, description="Larger than HALLMARK_MAX_UPLOAD_BYTES in all."),
        },
        description="Up to 20 images as repeated multipart fields `file`, together within "
        "HALLMARK_MAX_UPLOAD_BYTES and HALLMARK_MAX_IMAGE_PIXELS (a file past the pixels left "
        "gets `errors`). Each is answered as by `POST /api/v1/provenance/verify/`; a "
        "file that is not an accepted image gets `errors` in its own entry, the others are "
        "still answered. Each file counts against HALLMARK_VERIFY_RATE (429 past it). Each "
        "file that matched is audited (one `provenance.looked_up` each).",
    )
    def post(self, request: Request) -> Response:
        limit = int(settings.HALLMARK_MAX_UPLOAD_BYTES)
        if _declared_length(request) > limit:
            return _file_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            uploads = request.data.getlist("file") if hasattr(request.data, "getlist") else []
        except UnsupportedMediaType:
            return _file_error("Send multipart/form-data with one field `file` per image.", 415)
        except ParseError as exc:
            return _file_error(f"The upload could not be parsed: {exc.detail}")
        if not uploads:
            return _file_error("No file: send each image as a multipart field `file`.")
        if len(uploads) > BATCH_MAX_FILES:
            return _file_error(f"At most {BATCH_MAX_FILES} files per request, not {len(uploads)}.")
        # Each file counts against the verify rate, not only the request (hallmark.throttling).
        throttle = VerifyThrottle()
        if not throttle.charge(request, self, len(uploads) - 1):
            self.throttled(request, throttle.wait() or 1.0)
        results: list[dict[str, Any]] = []
        total = 0
        # The images of one batch together decode to at most HALLMARK_MAX_IMAGE_PIXELS.
        pixels_left = int(settings.HALLMARK_MAX_IMAGE_PIXELS)
        for index, upload in enumerate(uploads):
            name = str(getattr(upload, "name", ""))[:255]
            if not hasattr(upload, "read"):
                results.append({"index": index, "name": name, "errors": {"file": ["Not an uploaded file."]}})
                continue
            data = upload.read(limit + 1)
            total += len(data)
            if total > limit:
                return _file_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
            answer = _answer(request, data, pixels_left) if data else "The uploaded file is empty."
            if not isinstance(answer, str):
                pixels_left -= answer["image"]["width"] * answer["image"]["height"]
            if isinstance(answer, str):
                results.append({"index": index, "name": name, "errors": {"file": [answer]}})
            else:
                results.append({"index": index, "name": name, **answer})
        return Response({"results": results})


def _declared_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _read_upload(request: Request) -> bytes | Response:
    """The single upload's bytes, or the error answer (400, 413 or 415) naming ``file``."""
    limit = int(settings.HALLMARK_MAX_UPLOAD_BYTES)
    # Refuse by the declared length before reading a byte of a multipart body.
    if _declared_length(request) > limit:
        return _file_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    try:
        upload = request.data.get("file") if hasattr(request.data, "get") else None
    except UploadTooLarge:
        return _file_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    except UnsupportedMediaType:
        return _file_error(
            f"Unsupported content type {request.content_type!r}: send multipart/form-data with "
            "the field `file`, or an image content type.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    except ParseError as exc:
        return _file_error(f"The upload could not be parsed: {exc.detail}")
    if upload is None or upload == "":
        return _file_error(
            "No file: send the image as the multipart field `file`, or as the raw body with an "
            "image content type."
        )
    if isinstance(upload, bytes):
        data = upload
    elif hasattr(upload, "read"):
        if getattr(upload, "size", 0) > limit:
            return _file_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        data = upload.read(limit + 1)
        if len(data) > limit:
            return _file_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    else:
        return _file_error("`file` must be an uploaded file, not a form value.")
    if not data:
        return _file_error("The uploaded file is empty.")
    return data


def _answer(request: Request, data: bytes, max_pixels: int | None = None) -> dict[str, Any] | str:
    """The verify answer for one file, or why it was refused (a message about ``file``);
    ``max_pixels`` lowers the pixel limit (what is left of a batch's allowance)."""
    try:
        image = open_image_safely(data, max_pixels=max_pixels)
    except ImageRefused as exc:
        return str(exc)
    fmt = image.format or ""
    mime_type = Image.MIME.get(fmt, "application/octet-stream")
    answer = lookup(request.user, data, mime_type, image)
    return {
        "image": {"format": fmt, "width": image.width, "height": image.height, "byte_size": len(data)},
        **answer,
    }
