"""The dashboard's own assets: what base.html loads is served by the service, and the
stylesheet's blocks close (one lost `}` after an `@media` block puts every later rule inside
it, so desktop pages lose their styles without any error)."""

import re

import httpx

from app.web.templating import STATIC, TEMPLATES


def test_the_stylesheet_s_blocks_all_close_where_they_open() -> None:
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "app.css").read_text(), flags=re.S)
    depth = 0
    for number, line in enumerate(css.splitlines(), 1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"app.css:{number} closes a block it never opened"
        # Only an @media block holds other blocks: a rule may not open inside a rule.
        assert depth <= 2, f"app.css:{number} nests a block in a rule"
    assert depth == 0, "app.css leaves a block open"


async def test_every_asset_the_layout_loads_is_served_with_its_licence(
    client: httpx.AsyncClient,
) -> None:
    layout = (TEMPLATES / "base.html").read_text()
    assets = re.findall(r'(?:src|href)="(/app/static/[^"]+)"', layout)
    assert len(assets) == 3  # the stylesheet, htmx and our script
    for path in assets:
        answer = await client.get(path)
        assert answer.status_code == 200, path
    (htmx,) = [a for a in assets if "/vendor/" in a]
    licence = STATIC / "vendor" / htmx.rsplit("/", 1)[1].replace(".min.js", ".LICENSE")
    assert licence.exists()
