"""The embedded Activity Feeds v3 server: an ASGI app on SQLite.

``create_app(path, api_key=..., api_secret=...)`` builds it; ``feedkit serve`` runs it with
uvicorn; ``feedkit.connect()`` talks to it in-process through the same HTTP protocol.
"""

from feedkit.server.app import create_app
from feedkit.server.store import Store

__all__ = ["Store", "create_app"]
