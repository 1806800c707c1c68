"""A clinic's booking page in a real headless Chromium against the real stack, at phone and desktop
width: what to book, a time (in the clinic's own zone, here one with a half-hour offset), the one-time
code ("No code yet?" first, then a wrong one), booked; and a number the code cannot be texted to, said
plainly, with the way back to the times. Plain forms, no scripts; axe-core on every page; screenshots
into docs/patient-pages."""

from __future__ import annotations

import asyncio
import re
import secrets
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from ..integration.test_online_booking import booking_clinic
from ..integration.test_patient_loops import known_everywhere, phone_of
from .test_patient_pages import no_serious_violations, shoot, shows, while_page_changes

pytestmark = pytest.mark.integration


async def _clinic(stack: LocalStack, services: dict[str, ServiceProcess]) -> str:
    config = booking_clinic(uid("page"), zone="America/St_Johns")  # UTC-3:30 (-2:30 in summer)
    await known_everywhere(stack, services, config)
    return config.clinic_id


async def _code(stack: LocalStack, phone: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        rows = await query(
            stack.database_url("followup"),
            "SELECT body FROM sink_deliveries WHERE address = $1 AND idempotency_key LIKE 'fd-booking-code-%'",
            phone,
        )
        if rows:
            return re.findall(r"code is (\d{6})", rows[0]["body"])[0]
        assert time.monotonic() < deadline, "no code sent"
        await asyncio.sleep(0.3)


def test_a_new_patient_books_on_the_page_with_the_code_from_their_phone(
    stack: LocalStack, services: dict[str, ServiceProcess], browser: object
) -> None:
    clinic_id = asyncio.run(_clinic(stack, services))
    driver = browser
    driver.get(f"{services['scheduler'].url}/p/clinics/{clinic_id}/book")  # type: ignore[attr-defined]
    assert "<script" not in driver.page_source  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "booking-start")

    driver.find_element(By.CSS_SELECTOR, "input[name=claim][value=new]").click()  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "input[name=type][value=checkup]").click()  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    shows(driver, "Choose a time")
    main = driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    assert "America/St Johns time" in main and "with Dr. Rivera" in main
    assert re.search(r"\b\d{1,2}:\d{2} [AP]M with Dr\. (Rivera|Chen)", main)
    no_serious_violations(driver)
    shoot(driver, "booking-times")

    phone = phone_of(40)
    driver.find_elements(By.CSS_SELECTOR, "input[name=slot]")[1].click()  # type: ignore[attr-defined]
    driver.find_element(By.ID, "name").send_keys("Ana María López")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "phone").send_keys(f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}")  # type: ignore[attr-defined]
    driver.set_window_size(390, 844)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form[action='/p/book/hold'] button[type=submit]").click()  # type: ignore[attr-defined]
    shows(driver, "holding this time")
    assert phone not in driver.current_url and "Ana" not in driver.current_url  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "booking-code")

    code = asyncio.run(_code(stack, phone))
    driver.find_element(By.CSS_SELECTOR, "form[action='/p/book/status'] button").click()  # type: ignore[attr-defined]
    shows(driver, "not been told of any problem")
    no_serious_violations(driver)
    shoot(driver, "booking-code-waiting")

    driver.find_element(By.ID, "code").send_keys(f"{(int(code) + 1) % 1_000_000:06d}")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    shows(driver, "That code is not right")
    no_serious_violations(driver)
    shoot(driver, "booking-wrong-code")

    driver.find_element(By.ID, "code").send_keys(code)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    shows(driver, "You are booked")
    assert "with Dr. Rivera" in driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "booking-booked")


def _not_texted(driver: object) -> bool:
    """Press "No code yet?" (again) until the page says the code could not be texted."""
    main = driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    if "We could not text a code" in main:
        return True
    driver.find_element(By.CSS_SELECTOR, "form[action='/p/book/status'] button").click()  # type: ignore[attr-defined]
    time.sleep(0.5)
    return False


def test_a_number_the_code_cannot_be_texted_to_is_said_plainly_with_the_way_back(
    stack: LocalStack, services: dict[str, ServiceProcess], browser: object
) -> None:
    clinic_id = asyncio.run(_clinic(stack, services))
    driver = browser
    driver.set_window_size(390, 844)  # type: ignore[attr-defined]
    driver.get(f"{services['scheduler'].url}/p/clinics/{clinic_id}/book")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "input[name=claim][value=new]").click()  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "input[name=type][value=checkup]").click()  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()  # type: ignore[attr-defined]
    shows(driver, "Choose a time")
    phone = f"+1555{secrets.randbelow(10_000):04d}000"  # the local sink refuses it, as a provider a landline
    driver.find_elements(By.CSS_SELECTOR, "input[name=slot]")[0].click()  # type: ignore[attr-defined]
    driver.find_element(By.ID, "name").send_keys("Ines Duarte")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "phone").send_keys(f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form[action='/p/book/hold'] button[type=submit]").click()  # type: ignore[attr-defined]
    shows(driver, "holding this time")

    WebDriverWait(driver, 60).until(while_page_changes(_not_texted))  # type: ignore[arg-type]
    main = driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    assert f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}" in main and "call the practice" in main
    assert "<script" not in driver.page_source and phone not in driver.current_url  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "booking-not-texted")

    driver.find_element(By.CSS_SELECTOR, "form[action='/p/book/times'] button").click()  # type: ignore[attr-defined]
    shows(driver, "Choose a time")
    typed = driver.find_element(By.ID, "phone").get_attribute("value")  # type: ignore[attr-defined]
    assert typed == f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    assert driver.find_elements(By.CSS_SELECTOR, "input[name=slot]:checked")  # type: ignore[attr-defined]
