"""Pure data and rules shared by every layer: no I/O, no httpx, starlette, sqlmodel or signalrcore."""
