"""What the API and the workers share: the Celery app factory, task names, the broker transport."""
