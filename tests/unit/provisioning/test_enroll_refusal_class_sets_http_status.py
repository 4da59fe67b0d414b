"""HQ's enrollment desk answers by the refusal's class, not by its code string: "try later"
(CA key offline, desk full) is 503, too many sessions from one address is 429, a malformed
request 400, any other no 403. The codes the terminal reads are unchanged."""

from __future__ import annotations

import json

import pytest

from ground.errors import MeiboError
from hq.enroll_server import EnrollService
from provisioning import pki
from provisioning.enroll import (EnrollProtocolError, EnrollRefused, EnrollUnavailable, TooManyFromSource,
                                 refusal)


@pytest.mark.parametrize(("error", "status", "code"), [
    (refusal("busy"), 503, "busy"),
    (refusal("ca_key_missing"), 503, "ca_key_missing"),
    (pki.CaKeyMissing("鍵がありません"), 503, "ca_key_missing"),
    (refusal("too_many_from_source"), 429, "too_many_from_source"),
    (EnrollProtocolError("JSON が読めません", code="bad_request"), 400, "bad_request"),
    (refusal("card_used"), 403, "card_used"),
    (refusal("session_unknown"), 403, "session_unknown"),
])
def test_status_follows_the_class_and_the_code_is_kept(error: MeiboError, status: int, code: str) -> None:
    resp = EnrollService._error(error)
    assert resp.status == status
    assert resp.text is not None and json.loads(resp.text)["code"] == code


def test_refusals_a_terminal_retries_are_their_own_classes() -> None:
    assert isinstance(refusal("busy"), EnrollUnavailable) and isinstance(refusal("ca_key_missing"), EnrollUnavailable)
    assert isinstance(refusal("too_many_from_source"), TooManyFromSource)
    for code in ("busy", "too_many_from_source", "card_used"):
        assert isinstance(refusal(code), EnrollRefused)  # every refusal is still an EnrollRefused
    assert type(refusal("card_used")) is EnrollRefused
