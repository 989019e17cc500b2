"""The Celery app: all worker configuration in one place.

The broker is the project's Redis (embedded or ``REDIS_URL``), with every kombu key under the
project's prefix (``global_keyprefix``) so that several deployments, or tests, share a server.
Delivery guarantees: ``acks_late`` + ``reject_on_worker_lost`` + prefetch 1 mean a task whose
worker dies is delivered again; every task is idempotent, so running twice changes nothing.
A worker of the ingest queue alone prefetches more (``syndication worker`` sets it), to apply
``ingest`` messages in batches (see workers.ingest).
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from syndication.config import Config
from syndication.connection import broker_url, redis_url
from syndication.keys import Keys
from syndication.settings import Settings, get_settings
from workers.handles import DISPATCH_DUE, DRAIN_INBOX, QUEUES, SWEEP, task_routes
from workers.runtime import Runtime

# Beat intervals (seconds).
DRAIN_EVERY = 1.0
DISPATCH_EVERY = 2.0
SWEEP_EVERY = 15.0


def create_app(settings: Settings | None = None, config: Config | None = None) -> Celery:
    """A configured Celery app for ``settings`` (the environment's when omitted)."""
    settings = settings or get_settings()
    app = Celery("syndication", set_as_current=False)
    visibility = settings.visibility_timeout
    app.conf.update(
        broker_url=broker_url(redis_url(settings)),
        broker_connection_retry_on_startup=True,
        # Wait for Redis however long it is away (Celery's default gives up after 100
        # attempts and stops the worker); each failed attempt is logged.
        broker_connection_max_retries=None,
        # Tasks running when the broker connection drops finish rather than being killed
        # mid-call (a sender killed mid-call leaves its post uncertain); their messages may
        # come back (acks_late) and run again, which every task tolerates. Celery 6 changes
        # this default, so it is spelled out (Celery 5.6 warns at each reconnect either way).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={
            "global_keyprefix": Keys(settings.prefix).celery_prefix,
            "visibility_timeout": visibility,
            # Look for messages of dead workers (unacked past visibility_timeout) every few
            # seconds rather than kombu's default of once in ten minutes.
            "unacked_restore_interval": max(1, min(10, visibility // 5)),
            "unacked_restore_throttle": 1,
            # The restore holds a mutex; a worker killed while holding it would block every
            # other worker's restores for kombu's default of five minutes.
            "unacked_mutex_expire": max(5, visibility // 3),
        },
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_default_queue="ingest",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=task_routes(),
        # A task longer than this is killed; must stay below visibility_timeout so that a
        # redelivered message never overlaps a task that is still running.
        task_time_limit=max(5, visibility // 2),
        task_soft_time_limit=max(3, visibility // 3),
        beat_schedule={
            "drain-inbox": {"task": DRAIN_INBOX.name, "schedule": DRAIN_EVERY},
            "dispatch-due": {"task": DISPATCH_DUE.name, "schedule": DISPATCH_EVERY},
            "sweep": {"task": SWEEP.name, "schedule": SWEEP_EVERY},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    app.syndication = Runtime(settings, config)
    import workers.heartbeat
    import workers.inbox_reader
    import workers.ingest
    import workers.memory
    import workers.tasks  # noqa: F401  (registers the shared tasks on every app)

    return app
