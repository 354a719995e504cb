"""API routers, one module per area; `web.app` includes them."""
