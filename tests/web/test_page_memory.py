"""A page's data is freed with its response. A template that defines a macro ties everything
the page was given (its rows, the request, the signed-in user) into a reference cycle with
the template's context, freed only when the collector next runs; served to ten users at once,
those collections stalled a worker for 25-90 ms twice a second (issue 26's p99). Each page
here is asked for with the collector off and must leave no template context behind."""

import gc

import httpx
from jinja2.runtime import Context
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories as f
from tests.web.session_kit import flag, hold, pending_cpm, signed_in


async def test_the_inbox_the_posts_table_and_payments_leave_no_template_context_behind(
    app: object,
    client: httpx.AsyncClient,
    session: AsyncSession,
    collector_off: list[object],
) -> None:
    s = await f.setup_campaign(client)
    posts = [
        await f.post(
            client, s["campaign"]["id"], url=f"https://www.tiktok.com/@scout2015/video/{n}"
        )
        for n in range(1, 4)
    ]
    await hold(session, posts[0])
    await flag(session, posts[1])
    await pending_cpm(session, posts[2])
    admin = await signed_in(app, client, "ops@example.com")
    pages = ["/app", "/app/inbox/items", "/app/posts", "/app/posts?sort=views", "/app/payments"]
    for path in pages:
        assert (await admin.get(path)).status_code == 200  # warm: first renders compile
    for path in pages:
        gc.collect()
        collector_off.clear()
        page = await admin.get(path)
        assert page.status_code == 200
        gc.collect()
        kept = [o for o in collector_off if isinstance(o, Context)]
        assert not kept, f"{path} left {len(kept)} template context(s) to the collector"
