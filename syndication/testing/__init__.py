"""Local stand-ins for the social platforms, for tests and ``make demo``.

Each module serves one platform's API subset (see :mod:`syndication.testing.base` for the
shared server, request recording and fault injection). Platform modules are imported on
demand so that importing this package stays cheap.
"""

from syndication.testing.base import (
    RecordedRequest,
    SandboxPost,
    SandboxServer,
    UploadedFile,
    serving,
)

__all__ = ["RecordedRequest", "SandboxPost", "SandboxServer", "UploadedFile", "serving"]
