"""The verify endpoint's answer for one uploaded image: who may see which match, and the audit.

``lookup`` runs ``assets.verification.verify_file`` (exact bytes, pixels, trusted manifest,
then the soft bindings) and shapes the answer for the caller. ``made_by_this_organisation``
rests on hard evidence only (``asset_matches``); a soft match is reported apart, as
``likely_copy_of`` with its method and distance, and sets ``likely_copy_of_this_organisation``.
A caller who may see assets gets the asset ids; any other signed-in caller learns only those
booleans and the methods, without the assets (``asset_id`` null, no asset details).
Each file looked up that matched anything is one ``provenance.looked_up`` event: who asked,
the matches (at most ``AUDITED_MATCHES``, target the first), whether they were shown.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.db import transaction

from assets.verification import verify_file
from governance import roles
from governance.audit_trail import record_event

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from PIL import Image


#: The most matches one ``provenance.looked_up`` event lists (``match_count`` says how many).
AUDITED_MATCHES = 20


def may_see_assets(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether ``user`` may see the assets a lookup finds: the roles that read the library."""
    return roles.has_role(user, roles.VIEWER)


def lookup(
    user: AbstractBaseUser | AnonymousUser, data: bytes, mime_type: str, image: Image.Image
) -> dict[str, Any]:
    """The verify answer for ``data`` (already decoded as ``image``), shaped for ``user``."""
    report = verify_file(data, mime_type, image=image)
    visible = may_see_assets(user)
    answer = report.as_dict()
    answer["made_by_this_organisation"] = report.made_by_hallmark
    answer["likely_copy_of_this_organisation"] = bool(report.likely_copies)
    if not visible:
        for key in ("asset_matches", "likely_copy_of"):
            answer[key] = [{**match, "asset_id": None} for match in answer[key]]
    found = [{"asset_id": m.asset_id, "method": m.method, "distance": 0} for m in report.asset_matches]
    found += [c.as_dict() for c in report.likely_copies]
    if found:
        # One event per file looked up, whatever it matched: every event takes the audit
        # chain's head lock, which every writer in the fleet queues behind.
        with transaction.atomic():
            record_event(
                "provenance.looked_up",
                acting_user=user if user.is_authenticated else None,
                target=("assets.asset", str(found[0]["asset_id"])),
                data={
                    "matches": found[:AUDITED_MATCHES],
                    "match_count": len(found),
                    "made_by_this_organisation": report.made_by_hallmark,
                    "upload_sha256": hashlib.sha256(data).hexdigest(),
                    "asset_shown": visible,
                },
            )
    return answer
