"""sa compatibility shim: StreamAlert's module path, served by sa (never the repository's own copy)."""
