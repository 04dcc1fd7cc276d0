"""Each review error names its HTTP status once; the API's exception handler answers with it."""

from __future__ import annotations

import pytest

from assets import evidence, review
from assets.models import Asset
from governance import policy
from hallmark.api import exception_handler
from plugins.sdk import RequestInvalid

VIOLATION = policy.Violation(rule="no_commercial_use", message="Not for commercial use.")


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (review.NoSuchAsset("No such asset."), 404, {"detail": "No such asset."}),
        (review.NotPermitted("Four eyes."), 403, {"detail": "Four eyes."}),
        (review.TransitionNotAllowed("Held."), 409, {"detail": "Held."}),
        (evidence.EvidenceUnavailable("File missing."), 409, {"detail": "File missing."}),
        (
            RequestInvalid({"reason": ["A reason is required."]}),
            400,
            {"detail": "Invalid request.", "errors": {"reason": ["A reason is required."]}},
        ),
    ],
)
def test_the_handler_answers_with_the_status_the_class_names(error, status, body) -> None:
    response = exception_handler(error, {})
    assert response is not None
    assert (response.status_code, response.data) == (status, body)
    assert error.http_status == status


def test_a_policy_refusal_is_a_422_naming_the_rules() -> None:
    response = exception_handler(review.PolicyRefused([VIOLATION], "commercial"), {})
    assert response is not None and response.status_code == 422
    assert response.data["errors"] == {"policy": [str(VIOLATION)]}
    assert response.data["purpose"] == "commercial"
    assert response.data["violations"] == [VIOLATION.as_dict()]
    assert response.data["detail"].startswith("The licence policy refuses commercial use")


def test_no_such_asset_is_still_an_asset_does_not_exist() -> None:
    assert issubclass(review.NoSuchAsset, Asset.DoesNotExist)
