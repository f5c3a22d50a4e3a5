"""The HTTP edge: the FastAPI app, its routes, dependencies, middleware, and the MCP server."""
