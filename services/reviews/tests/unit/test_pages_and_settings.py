"""The patient's pages (escaped, no gating) and the signing-key settings (no silent production default)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.common.settings import ServiceSettings
from frontdesk.reviews.entrypoints import pages
from frontdesk.reviews.settings import LOCAL_DEV_KEY, MissingSigningKey, ReviewsSettings, resolve

site_links = st.dictionaries(
    st.from_regex(r"[a-z]{2,12}", fullmatch=True),
    st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9]{0,12}", fullmatch=True),
    max_size=5,
)


@settings(max_examples=200)
@given(links=site_links, scale=st.sampled_from(["stars", "nps"]), score=st.integers(0, 10))
def test_every_answer_whatever_the_score_is_thanked_with_every_public_link(
    links: dict[str, str], scale: str, score: int
) -> None:
    # The thank-you page is a function of the practice and its links only: the score cannot reach it.
    page = pages.thanks_page("Maple Street", links)
    assert set(re.findall(r'href="([^"]+)"', page)) == set(links.values())
    # ...and the form shows the same links before any score is given.
    form = pages.form_page("Maple Street", scale, links, "/v1/feedback/t")  # type: ignore[arg-type]
    assert set(re.findall(r'href="([^"]+)"', form)) == set(links.values())


def test_the_form_offers_the_clinic_scale() -> None:
    stars = pages.form_page("P", "stars", {}, "/v1/feedback/t")
    assert re.findall(r'name=score value="(\d+)"', stars) == ["1", "2", "3", "4", "5"]
    nps = pages.form_page("P", "nps", {}, "/v1/feedback/t")
    assert re.findall(r'name=score value="(\d+)"', nps) == [str(n) for n in range(11)]
    assert 'name=viewport content="width=device-width' in nps and "<script" not in nps


def test_everything_is_escaped() -> None:
    page = pages.form_page('<b>"x"</b>', "stars", {"g": 'https://x.example/"onmouseover=1'}, "/a", error="<i>")
    assert "<b>" not in page and "<i>" not in page and '"onmouseover' not in page


def service(db: str, kafka: str = "127.0.0.1:9092") -> ServiceSettings:
    return ServiceSettings(service="reviews", database_url=db, kafka_bootstrap_servers=kafka, http_port=8004)


def test_the_local_stack_gets_a_public_dev_key_and_a_loopback_url() -> None:
    resolved = resolve(ReviewsSettings(), service("postgresql://postgres@127.0.0.1:5432/x"))
    assert resolved.keys() == [LOCAL_DEV_KEY.encode()]
    assert resolved.public_base_url == "https://127.0.0.1:8004"  # followup sends only https links


@pytest.mark.parametrize(
    ("db", "kafka"),
    [
        ("postgresql://reviews@db.internal:5432/reviews", "127.0.0.1:9092"),
        ("postgresql://postgres@127.0.0.1:5432/x", "kafka-0.kafka:9092"),
        ("postgresql://postgres@127.0.0.1:5432/x", "127.0.0.1:9092,kafka-1:9092"),
    ],
)
def test_anywhere_else_a_missing_key_stops_the_start(db: str, kafka: str) -> None:
    with pytest.raises(MissingSigningKey, match="REVIEWS_LINK_SIGNING_KEYS is required"):
        resolve(ReviewsSettings(), service(db, kafka))


def test_keys_rotate_and_short_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    prod = service("postgresql://reviews@db.internal/reviews", "kafka:9092")
    monkeypatch.setenv("REVIEWS_LINK_SIGNING_KEYS", "n" * 32 + ", " + "o" * 40)
    monkeypatch.setenv("REVIEWS_PUBLIC_BASE_URL", "https://feedback.example")
    resolved = resolve(ReviewsSettings(), prod)
    assert resolved.keys() == [b"n" * 32, b"o" * 40]
    monkeypatch.setenv("REVIEWS_LINK_SIGNING_KEYS", "short")
    with pytest.raises(MissingSigningKey, match="at least 32"):
        resolve(ReviewsSettings(), prod)
    monkeypatch.setenv("REVIEWS_LINK_SIGNING_KEYS", "n" * 32)
    monkeypatch.delenv("REVIEWS_PUBLIC_BASE_URL")
    with pytest.raises(MissingSigningKey, match="REVIEWS_PUBLIC_BASE_URL"):
        resolve(ReviewsSettings(), prod)
