"""The worker's Celery application: ``celery -A registro.worker.celery_app worker`` runs
it. Its configuration and factory are ``registro/celery_config.py``, shared with the API
(which never imports this module or the tasks, so the worker-only set-up stays out of
the API process).
"""

from __future__ import annotations

from registro.celery_config import make_celery

# The worker's app (``-A registro.worker.celery_app``): it loads the task module.
app = make_celery(include_tasks=True)
celery_app = app
