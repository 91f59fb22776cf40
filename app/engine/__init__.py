"""Orchestration: handle_alert, reconcile; joins ingest, strategies, gateway and journal."""
