"""kopf operator that scales the worker Deployment from the queue depth."""
