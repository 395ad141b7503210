"""HTML routes, one module per page family; the JSON API lives in `web.routes.api`."""
