"""Field-level sealing: round trip, recipient and record binding, tampering, rotation, configuration."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from frontdesk.common.contracts import (
    BOOKING_CODES_RECIPIENT,
    BookingContactVerified,
    CallOverflowed,
    booking_contact_aad,
)
from frontdesk.common.sealing import CannotOpen, Keyring, SealedField, SealingError, UnknownKey, new_key

NUMBER = "+14155550123"
AAD = "call.overflowed/clinic-1/call-1"


def ring(*recipients: str) -> Keyring:
    keyring = Keyring()
    for recipient in recipients:
        keyring = keyring.rotated(recipient, "k1")
    return keyring


def test_round_trip_and_fresh_nonces() -> None:
    keys = ring("vendor-a")
    one, two = keys.seal("vendor-a", NUMBER, AAD), keys.seal("vendor-a", NUMBER, AAD)
    assert keys.open("vendor-a", one, AAD) == NUMBER
    assert one.kid == "k1"
    assert (one.nonce, one.ciphertext) != (two.nonce, two.ciphertext)  # same number, unlinkable values
    assert "4155550123" not in one.model_dump_json()


def test_another_vendors_key_does_not_open() -> None:
    keys = ring("vendor-a", "vendor-b")
    sealed = keys.seal("vendor-a", NUMBER, AAD)
    # Vendor B holds only its own ring: no keys for A at all, and its own key (same kid) fails.
    vendor_b = keys.only(["vendor-b"])
    with pytest.raises(UnknownKey):
        vendor_b.open("vendor-a", sealed, AAD)
    with pytest.raises(CannotOpen):
        vendor_b.open("vendor-b", sealed, AAD)


def test_the_same_key_under_another_recipient_name_does_not_open() -> None:
    key = new_key()
    keys = Keyring().rotated("vendor-a", "k1", key).rotated("vendor-b", "k1", key)
    sealed = keys.seal("vendor-a", NUMBER, AAD)
    with pytest.raises(CannotOpen):  # the recipient is part of the AAD
        keys.open("vendor-b", sealed, AAD)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s.model_copy(update={"ciphertext": _flip(s.ciphertext)}),
        lambda s: s.model_copy(update={"nonce": _flip(s.nonce)}),
        lambda s: s.model_copy(update={"ciphertext": base64.b64encode(base64.b64decode(s.ciphertext)[:-1]).decode()}),
        lambda s: s.model_copy(update={"nonce": base64.b64encode(b"short").decode()}),
    ],
    ids=["ciphertext", "nonce", "truncated-tag", "nonce-length"],
)
def test_tampered_values_do_not_open(tamper: object) -> None:
    keys = ring("vendor-a")
    sealed = keys.seal("vendor-a", NUMBER, AAD)
    with pytest.raises(CannotOpen):
        keys.open("vendor-a", tamper(sealed), AAD)  # type: ignore[operator]


def test_another_records_aad_does_not_open() -> None:
    keys = ring("vendor-a")
    sealed = keys.seal("vendor-a", NUMBER, AAD)
    with pytest.raises(CannotOpen):
        keys.open("vendor-a", sealed, "call.overflowed/clinic-1/call-2")


def test_rotation_new_values_use_the_new_key_old_ones_open_until_it_is_retired() -> None:
    k1 = ring("vendor-a")
    old = k1.seal("vendor-a", NUMBER, AAD)
    k2 = k1.rotated("vendor-a", "k2")
    new = k2.seal("vendor-a", NUMBER, AAD)
    assert (old.kid, new.kid) == ("k1", "k2")
    assert k2.open("vendor-a", old, AAD) == k2.open("vendor-a", new, AAD) == NUMBER
    # A vendor that has not received k2 yet cannot open the new values (hand keys out before rotating).
    with pytest.raises(UnknownKey):
        k1.open("vendor-a", new, AAD)
    retired = k2.retired("vendor-a", "k1")
    assert retired.open("vendor-a", new, AAD) == NUMBER
    with pytest.raises(UnknownKey, match=r"no key .k1. for .vendor-a.*retired"):
        retired.open("vendor-a", old, AAD)
    with pytest.raises(SealingError, match="active key"):
        k2.retired("vendor-a", "k2")
    with pytest.raises(SealingError, match="never reused"):
        k2.rotated("vendor-a", "k1")


def test_configuration_round_trip_and_environment() -> None:
    keys = ring("vendor-a", "call-router").rotated("vendor-a", "k2")
    again = Keyring.from_env({"FRONTDESK_SEALING_KEYS": keys.to_json()})
    assert again.active_kid("vendor-a") == "k2"
    assert again.open("vendor-a", keys.seal("vendor-a", NUMBER, AAD), AAD) == NUMBER
    assert not Keyring.from_env({}).has("vendor-a")


def test_other_aes_gcm_implementations_open_it_with_the_documented_aad() -> None:
    key = new_key()
    sealed = Keyring().rotated("vendor-a", "k1", key).seal("vendor-a", NUMBER, AAD)
    plain = AESGCM(key).decrypt(
        base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), f"vendor-a\n{AAD}".encode()
    )
    assert plain.decode() == NUMBER


@pytest.mark.parametrize(
    "doc",
    [
        "not json",
        "[]",
        {"vendor-a": {"active": "k2", "keys": {"k1": "KEY"}}},
        {"vendor-a": {"active": "k1", "keys": {"k1": base64.b64encode(b"short").decode()}}},
        {"vendor-a": {"active": "k1", "keys": {"k1": "!!not base64!!"}}},
        {"vendor-a": {"active": "k1"}},
        {"vendor a": {"active": "k1", "keys": {"k1": "KEY"}}},
    ],
)
def test_bad_configuration_is_refused_without_echoing_keys(doc: object) -> None:
    key = base64.b64encode(new_key()).decode()
    text = doc if isinstance(doc, str) else json.dumps(doc).replace("KEY", key)
    with pytest.raises(SealingError) as refused:
        Keyring.from_json(text)
    assert key not in str(refused.value)
    assert "!!not base64!!" not in str(refused.value)


def test_keys_never_show_in_reprs() -> None:
    keys = ring("vendor-a")
    material = json.loads(keys.to_json())["vendor-a"]["keys"]["k1"]
    assert material not in repr(keys)
    assert "k1" in repr(keys)


def test_the_vendor_opens_its_callback_from_the_event() -> None:
    keys = ring("vendor-a", "vendor-b")
    now = datetime.now(UTC)
    event = CallOverflowed(
        call_id="call-1",
        clinic_id="clinic-1",
        vendor_id="vendor-a",
        reason="after_hours",
        overflowed_at=now,
        answer_by=now,
        caller_token="tok-1",
    )
    assert event.callback_number(keys) is None
    sealed = event.model_copy(update={"callback": keys.seal("vendor-a", NUMBER, event.callback_aad())})
    decoded = CallOverflowed.model_validate_json(sealed.model_dump_json())
    assert decoded.callback_number(keys.only(["vendor-a"])) == NUMBER
    # The sealed value copied onto another call does not open.
    moved = decoded.model_copy(update={"call_id": "call-2"})
    with pytest.raises(CannotOpen):
        moved.callback_number(keys)
    assert SealedField.model_json_schema()["additionalProperties"] is False


def test_followup_opens_a_verified_booking_number_only_for_its_own_attempt_and_patient() -> None:
    keys = ring(BOOKING_CODES_RECIPIENT)
    aad = booking_contact_aad("clinic-1", "bk-1", "web-1")
    event = BookingContactVerified(
        verification_id="bk-1",
        clinic_id="clinic-1",
        patient_id="web-1",
        appointment_id="appt-1",
        verified_at=datetime.now(UTC),
        sealed=keys.seal(BOOKING_CODES_RECIPIENT, json.dumps({"phone": NUMBER}), aad),
    )
    decoded = BookingContactVerified.model_validate_json(event.model_dump_json())
    assert decoded.open(keys) == NUMBER and NUMBER not in event.model_dump_json()
    with pytest.raises(CannotOpen):  # the same sealed number copied onto another patient's booking
        decoded.model_copy(update={"patient_id": "web-2"}).open(keys)
    with pytest.raises(ValueError, match="without an E"):  # sealed right, but not a number
        bad = keys.seal(BOOKING_CODES_RECIPIENT, json.dumps({"phone": "hello"}), aad)
        decoded.model_copy(update={"sealed": bad}).open(keys)


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()
