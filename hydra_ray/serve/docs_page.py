"""``GET /docs``: Swagger UI, whose files come from cdn.jsdelivr.net, over a plain list of the routes.

Offline (an air-gapped node, a laptop on a plane) the CDN's script does not load, and FastAPI's own
page stays blank. This page is server-rendered: the routes, what each does and the link to
``/openapi.json`` are in the HTML itself, and Swagger UI replaces them only once its script loaded.
"""
from __future__ import annotations

from html import escape
from typing import Any

SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"   # FastAPI's defaults
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
OFFLINE_NOTE = ("Interactive docs (Swagger UI) load from cdn.jsdelivr.net; without it this page lists the "
                "routes, and the full schema is at /openapi.json.")
METHODS = ("get", "post", "put", "patch", "delete")


def route_rows(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(METHOD, path, summary) of every route in the OpenAPI schema."""
    rows = []
    for path, ops in (schema.get("paths") or {}).items():
        for method in METHODS:
            if method in ops:
                op = ops[method]
                rows.append((method.upper(), path, op.get("summary") or op.get("description") or ""))
    return rows


def docs_page(schema: dict[str, Any], root_path: str, openapi_url: str) -> str:
    title = escape(str((schema.get("info") or {}).get("title", "API")))
    spec = escape(root_path + openapi_url, quote=True)
    items = "\n".join(f"<li><code>{m} {escape(root_path + p)}</code> {escape(s)}</li>"
                      for m, p, s in route_rows(schema))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - docs</title>
<link rel="stylesheet" href="{SWAGGER_CSS}"></head>
<body>
<div id="plain" style="font-family: sans-serif; margin: 2em">
<h1>{title}</h1>
<p>{escape(OFFLINE_NOTE.replace("/openapi.json", root_path + openapi_url))}
Schema: <a href="{spec}">{spec}</a></p>
<ul>
{items}
</ul>
</div>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS}"></script>
<script>
if (window.SwaggerUIBundle) {{
  document.getElementById("plain").remove();
  SwaggerUIBundle({{url: "{spec}", dom_id: "#swagger-ui", deepLinking: true}});
}}
</script>
</body></html>
"""
