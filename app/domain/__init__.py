"""Pure data and rules shared by every layer: no I/O, no httpx, starlette, sqlmodel or signalrcore.

The bridge's own words for orders and alerts (frozen dataclasses and enums: Decimal prices in
points, sizes in contracts, tz-aware UTC times), what the gateway says about accounts (order,
fill, position and balance events), the journal's vocabulary (event kinds and levels, OCO kinds
and states as StrEnums), order tags (``tvb-<instance>-<alert>-<n>``), the tick grid, the
exchange's trading calendar, and the risk gate's rules. Everything here is a pure function of
its arguments, so every other package may import it and tests need no fixtures.
"""
