"""Social platform adapters, one module per platform behind :class:`base.Platform`."""
