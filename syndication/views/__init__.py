"""Views for operators and readers shared by the CLI and the HTTP server: the status snapshot
(``syndication status``, ``GET /status``) and the HTML pages."""
