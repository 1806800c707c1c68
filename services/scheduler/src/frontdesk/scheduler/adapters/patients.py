"""Patients: contact details (they stay in this database) and which clinics they belong to."""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.common.db import Connection


@dataclass(frozen=True)
class PatientLinks:
    """Who may do what with a patient (docs/patients.md)."""

    registered: list[str]  # the clinics that registered them: the only ones that change their details
    linked: list[str]  # every clinic with an appointment, a waitlist entry or a registration of theirs
    on_file: bool  # this service holds their details (perhaps from a network-wide client)


async def patient_links(conn: Connection, patient_id: str) -> PatientLinks:
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM patients WHERE patient_id = $1) AS on_file,"
        " ARRAY(SELECT clinic_id FROM patient_clinics WHERE patient_id = $1) AS registered, ARRAY("
        " SELECT clinic_id FROM appointments WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM waitlist WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM patient_clinics WHERE patient_id = $1) AS linked",
        patient_id,
    )
    assert row is not None
    return PatientLinks(sorted(row["registered"]), sorted(row["linked"]), bool(row["on_file"]))


async def lock_patient(conn: Connection, patient_id: str) -> None:
    """Queue the writers of one patient (transaction-scoped): two clinics creating the same new patient
    at once must not both take it for new."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('patient:' || $1))", patient_id)


async def link_patient(conn: Connection, patient_id: str, clinic_ids: list[str]) -> None:
    await conn.execute(
        "INSERT INTO patient_clinics (patient_id, clinic_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
        patient_id,
        clinic_ids,
    )


# --- patients (contact details stay in this database) ---------------------------------------------


async def upsert_patient(
    conn: Connection, patient_id: str, display_name: str | None, phone: str | None, email: str | None
) -> None:
    await conn.execute(
        "INSERT INTO patients (patient_id, display_name, phone, email) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (patient_id) DO UPDATE SET display_name = EXCLUDED.display_name, phone = EXCLUDED.phone,"
        " email = EXCLUDED.email, updated_at = now()",
        patient_id,
        display_name,
        phone,
        email,
    )
