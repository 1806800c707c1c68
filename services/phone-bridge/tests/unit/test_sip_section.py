"""The clinic configuration's optional phone.sip: validated against the phone section it serves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from .clinics import clinic


def test_a_valid_section_is_accepted() -> None:
    assert clinic().phone.sip is not None


@pytest.mark.parametrize(
    ("sip", "message"),
    [
        ({"vendors": {"va": "sip:va@127.0.0.1"}}, "no SIP URI for vendors ['vb']"),
        ({"vendors": {"va": "sip:a@x", "vb": "sip:b@x", "vz": "sip:z@x"}}, "['vz'] are not vendors"),
        ({"vendors": {"va": "sip:a@x", "vb": "sip:b@x"}, "receptionists": {"r9": "sip:r9@x"}}, "not receptionists"),
        ({"vendors": {"va": "sip:a@x", "vb": "sip:b@x"}, "pools": {"nope": "sip:p@x"}}, "neither pools"),
        ({"vendors": {"va": "tel:+15550100", "vb": "sip:b@x"}}, "is not a SIP URI"),
        ({"vendors": {"va": "sip:a@x y", "vb": "sip:b@x"}}, "is not a SIP URI"),
        ({"vendors": {"va": "sip:a@x", "vb": "sip:b@x"}, "numbers": ["+1 555"]}, "numbers"),
    ],
)
def test_an_unusable_section_is_refused_with_the_reason(sip: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        clinic(sip=sip)


def test_sips_and_ports_and_parameters_are_accepted() -> None:
    sip = {"vendors": {"va": "sips:+15550100@vendor.example:5061;transport=tls", "vb": "sip:[::1]:5070"}}
    assert clinic(sip=sip).phone.sip is not None
