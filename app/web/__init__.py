"""Starlette: the two listeners of ``tvbridge serve`` and everything they answer.

The webhook listener (the only port a tunnel points at: ``POST /webhook/...`` and nothing else)
and the pages' listener: the app factory and lifespan that build the bridge, ``/healthz`` and
``/readyz``, the pages behind a login (journal with its live feed and CSV export, status with
the risk rules, webhooks, templates with preview), the JSON API, the kill switch (pause,
resume, flatten), the pages' guards (Host, Origin, CSRF, security headers), log scrubbing, and
the tunnel wired to the journal.
"""
