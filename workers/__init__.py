"""The runtime (use cases every entry point calls), the job queue seam, the job tasks, Celery and webhooks."""
