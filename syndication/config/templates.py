"""The sandbox channel templates run in, shared by config validation and post rendering.

A channel's template is operator-written config, but it is still run in Jinja2's
:class:`~jinja2.sandbox.SandboxedEnvironment`: a template can read the values it is given and
nothing else (no attribute walks to ``__globals__``, no huge string repetition). Autoescape is
off because the output is plain text; each adapter escapes for its own markup after fitting.
Undefined names fail loudly (``StrictUndefined``) so a typo in a template is a config error,
not a post with a hole in it.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from syndication.errors import ConfigError

__all__ = ["TemplateError", "check_template", "compiled", "describe"]

# Longest string a template may build with ``*`` (a template is config, not an attack
# surface, but a slip like ``{{ title * 100000000 }}`` should fail, not eat the worker's memory).
_MAX_REPEAT_CHARS = 100_000


class TemplateError(ConfigError):
    """A channel's template does not compile or does not render (undefined name, bad filter)."""


class _Sandbox(SandboxedEnvironment):
    """The sandbox plus a cap on ``*`` and ``**`` results."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: object, right: object
    ) -> object:
        if (
            operator == "*"
            and isinstance(right, int)
            and isinstance(left, str | list | tuple)
            and len(left) * right > _MAX_REPEAT_CHARS
        ):
            raise SecurityError("repeated sequence too long")
        if operator == "**" and isinstance(right, int) and right > 64:
            raise SecurityError("exponent too large")
        return super().call_binop(context, operator, left, right)


def _environment() -> SandboxedEnvironment:
    return _Sandbox(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


_ENV = _environment()


@lru_cache(maxsize=256)
def compiled(template: str) -> jinja2.Template:
    # Compiling costs about a millisecond; a channel's template never changes in a process.
    return _ENV.from_string(template)


def describe(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    return str(exc.message if getattr(exc, "message", None) else exc)


def check_template(src: str) -> str | None:
    """Compile ``src``; return what is wrong with it, or ``None`` when it is valid.

    Compiling (not only parsing) also finds unknown filters and tests, which Jinja2 checks
    when it generates code.
    """
    try:
        compiled(src)
    except jinja2.TemplateSyntaxError as exc:  # TemplateAssertionError included
        return describe(exc)
    return None
