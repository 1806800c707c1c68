"""The patient-facing feedback pages: small, mobile-friendly HTML, no scripts, no third-party assets.

Pure functions (text in, HTML out); every value is escaped. The pages show the practice's public name
and the public review links only: nothing about the patient or the visit. The public links are shown
after every answer, whatever the score (no review gating), and on the form itself.
"""

from __future__ import annotations

from html import escape

from frontdesk.common.contracts import RatingScale

_STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;padding:1rem;background:#f6f7f9;color:#1d2330}
main{max-width:28rem;margin:0 auto;background:#fff;border-radius:12px;padding:1.25rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:.2rem 0 1rem}
fieldset{border:0;padding:0;margin:0 0 1rem;display:flex;flex-wrap:wrap;gap:.4rem}
label.score{flex:1 0 2.6rem;text-align:center;border:1px solid #c8ccd4;border-radius:8px;padding:.6rem 0;
font-size:1.1rem}
label.score input{display:block;margin:0 auto .2rem}
textarea{width:100%;box-sizing:border-box;min-height:6rem;font:inherit;padding:.5rem}
button{width:100%;padding:.8rem;font-size:1.05rem;border:0;border-radius:8px;background:#1f6feb;color:#fff;margin-top:1rem}
ul.links{padding-left:1.1rem} .error{color:#b42318;font-weight:600} small{color:#5b6270}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<meta name=robots content="noindex,nofollow">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def links_block(review_links: dict[str, str]) -> str:
    if not review_links:
        return ""
    items = "".join(
        f'<li><a href="{escape(url, quote=True)}" rel="noopener noreferrer">{escape(site.title())}</a></li>'
        for site, url in review_links.items()
    )
    return f"<p>If you would like to, you can also share a public review:</p><ul class=links>{items}</ul>"


def form_page(
    practice: str, scale: RatingScale, review_links: dict[str, str], action: str, error: str | None = None
) -> str:
    if scale == "stars":
        question = "How would you rate your experience with us?"
        choices = [(n, "★" * n) for n in range(1, 6)]
    else:
        question = "How likely are you to recommend us to a friend or colleague? (0 = not at all, 10 = extremely)"
        choices = [(n, str(n)) for n in range(11)]
    options = "".join(
        f'<label class=score><input type=radio name=score value="{n}" required>{escape(text)}</label>'
        for n, text in choices
    )
    problem = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    body = (
        f"<h1>{escape(practice)}</h1>{problem}"
        f'<form method=post action="{escape(action, quote=True)}">'
        f"<p>{escape(question)}</p><fieldset>{options}</fieldset>"
        "<label for=comment>Anything you would like to tell us? <small>(optional, private)</small></label>"
        "<textarea id=comment name=comment maxlength=2000></textarea>"
        "<button type=submit>Send</button></form>"
        "<p><small>Your answer goes to the practice only. This link works once.</small></p>"
        f"{links_block(review_links)}"
    )
    return _page(f"Feedback for {practice}", body)


def thanks_page(practice: str, review_links: dict[str, str], already: bool = False) -> str:
    head = "We already have your answer, thank you!" if already else "Thank you for your feedback!"
    return _page(
        f"Thank you - {practice}",
        f"<h1>{escape(head)}</h1><p>{escape(practice)} reads every answer.</p>{links_block(review_links)}",
    )


def problem_page(message: str) -> str:
    return _page("Feedback", f"<h1>Sorry</h1><p class=error>{escape(message)}</p>")
