"""The portal's HTML: one small page, server-rendered, with its CSS inline and no script, so
it works offline, behind any content policy, and on a phone. Every value is escaped."""

from collections.abc import Sequence
from datetime import datetime
from html import escape

from app.domain.enums import PLATFORM_NAMES, Platform
from app.schemas.portal import PortalPost, PortalSummary, PortalTotal

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 color:#1c1f23;background:#f4f5f7}
main{max-width:760px;margin:0 auto;padding:16px}
h1{font-size:1.35rem;margin:8px 0 4px}
h2{font-size:1.05rem;margin:20px 0 8px}
.muted{color:#5b6470;font-size:.9rem}
.card{background:#fff;border:1px solid #dde1e6;border-radius:10px;padding:14px;margin:10px 0}
form.login{display:flex;flex-direction:column;gap:10px}
input[type=text]{font:inherit;font-size:1.1rem;padding:12px;border:1px solid #b9c0c8;
 border-radius:8px;letter-spacing:.08em;text-transform:uppercase}
button{font:inherit;padding:11px 16px;border:0;border-radius:8px;background:#1f5fd1;
 color:#fff;cursor:pointer}
button.link{background:none;color:#1f5fd1;padding:4px 0}
.error{background:#fdecec;border-color:#f3b5b5;color:#8a1c1c}
.totals{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;text-align:center}
.totals b{display:block;font-size:1.2rem}
.head{display:flex;justify-content:space-between;align-items:baseline;gap:8px;flex-wrap:wrap}
.video a{word-break:break-all}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:4px 12px;
 margin-top:8px}
.facts span{color:#5b6470;font-size:.85rem;display:block}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:.85rem;
 font-weight:600}
.Active{background:#e6f0ff;color:#1f4fa3}.Held{background:#fff4db;color:#7a5200}
.Finalized{background:#e5f6ea;color:#1d6b34}.Paid{background:#dff3f1;color:#0f5f57}
.Rejected{background:#f6e3e3;color:#8a1c1c}
.reason{margin:6px 0 0;font-size:.9rem;color:#5b6470}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _day(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d")


def login(error: str | None = None) -> str:
    alert = f'<div class="card error" role=alert>{escape(error)}</div>' if error else ""
    return _page(
        "Creator portal — sign in",
        "<h1>Your videos and earnings</h1>"
        "<p class=muted>Sign in with the access code the brand gave you.</p>"
        f"{alert}"
        '<form class="card login" method=post action="/portal/login">'
        "<label for=code>Access code</label>"
        "<input id=code name=access_code type=text autocomplete=one-time-code "
        "autocapitalize=characters spellcheck=false required maxlength=64 "
        'placeholder="XXXX-XXXX-XXXX-XXXX">'
        "<button type=submit>Sign in</button></form>",
    )


def _video(post: PortalPost) -> str:
    reason = f"<p class=reason>{escape(post.status_reason)}</p>" if post.status_reason else ""
    earnings = "—" if post.earnings is None else f"{post.earnings:.2f} {escape(post.currency)}"
    views = f"{post.views:,}" + (" (locked)" if post.views_locked else "")
    return (
        '<div class="card video">'
        "<div class=head>"
        f'<a href="{escape(post.url)}" rel="noopener noreferrer">{escape(post.url)}</a>'
        f'<span class="badge {post.status}">{post.status}</span></div>'
        f"{reason}"
        "<div class=facts>"
        f"<div><span>Campaign</span>{escape(post.campaign)}</div>"
        f"<div><span>Platform</span>{PLATFORM_NAMES[Platform(post.platform)]}"
        "</div>"
        f"<div><span>Published</span>{_day(post.published_at)}</div>"
        f"<div><span>Views</span>{views}</div>"
        f"<div><span>Earnings</span>{earnings}</div>"
        f"<div><span>Paid</span>{_day(post.paid_at)}</div>"
        "</div></div>"
    )


def _totals(total: PortalTotal) -> str:
    cells = (("Earned", total.earned), ("Paid", total.paid), ("Pending", total.pending))
    return (
        '<div class="card totals">'
        + "".join(
            f"<div><b>{amount:.2f}</b><span class=muted>{label} {escape(total.currency)}</span>"
            "</div>"
            for label, amount in cells
        )
        + "</div>"
    )


def dashboard(summary: PortalSummary, posts: Sequence[PortalPost], more: str | None) -> str:
    totals = "".join(_totals(t) for t in summary.totals) or "<div class=card>No videos yet.</div>"
    videos = "".join(_video(p) for p in posts)
    older = f'<p><a href="/portal?cursor={escape(more)}">Older videos →</a></p>' if more else ""
    handle = escape(summary.creator.handle)
    return _page(
        f"@{summary.creator.handle} — creator portal",
        "<div class=head>"
        f"<h1>@{handle}</h1>"
        '<form method=post action="/portal/logout">'
        "<button class=link type=submit>Log out</button></form></div>"
        "<h2>Totals</h2>"
        f"{totals}"
        "<h2>Your videos</h2>"
        f"{videos or '<div class=card>No videos yet.</div>'}{older}",
    )
