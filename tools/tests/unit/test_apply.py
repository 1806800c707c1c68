"""`frontdesk apply` refuses a clinic file it cannot publish safely, saying where and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from frontdesk.tools.apply import InvalidClinicFile, load_clinics


def test_issue16_item9_apply_refuses_a_dotted_vendor_id(tmp_path: Path) -> None:
    clinics = [
        {
            "clinic_id": "c1",
            "name": "Clinic One",
            "timezone": "America/Chicago",
            "phone": {"answering_service": "acme", "vendors": [{"vendor_id": "acme"}, {"vendor_id": "acme.night"}]},
        },
        {"clinic_id": "c2", "name": "Clinic Two", "timezone": "UTC", "phone": {"answering_service": "acme"}},
    ]
    path = tmp_path / "clinics.yaml"
    path.write_text(yaml.safe_dump({"clinics": clinics}))
    with pytest.raises(InvalidClinicFile) as excinfo:
        load_clinics(path)
    message = str(excinfo.value)
    assert message.startswith("clinic c1: phone.vendors.1.vendor_id: Value error, vendor id 'acme.night' must be")
    assert "no dots" in message and "c2" not in message
