"""The Celery app and its tasks: thin shells that call into ``syndication`` and ``feeds``."""
