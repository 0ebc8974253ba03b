"""One module per course topic; each has ``build(section, ctx)``."""
