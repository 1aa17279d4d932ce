"""Celery worker and Selenium scraper."""
