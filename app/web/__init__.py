"""Starlette: the app factory and lifespan, the webhook route, health, (later) pages and JSON API."""
