"""Orchestration: ``Bridge.handle`` runs one webhook delivery (intake, execute, settle) and the
engine keeps the journal in line with the gateway (events, reconcile, recovery, protection, risk);
it joins ingest, strategies, gateway and journal, each seen through a typed interface."""
