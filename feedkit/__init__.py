"""feedkit: move Activity Feeds v3 data in and out of notebooks.

``feedkit.connect()`` opens the embedded server (SQLite, in this process);
``feedkit.connect(base_url=..., api_key=..., api_secret=...)`` talks to the hosted service or
any compatible server through the same client.
"""

from feedkit.bulk import (
    ImportInterrupted,
    ImportOptions,
    ImportReport,
    import_activities,
    import_rows,
    validate_source,
)
from feedkit.client import Client, Retry, connect
from feedkit.convert import Conversion, to_activities
from feedkit.display import show
from feedkit.errors import (
    APIError,
    AuthError,
    FeedkitError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StoreError,
    TransportError,
    ValidationError,
)
from feedkit.export import feed_to_dataframe, query_to_dataframe, to_parquet
from feedkit.importfile import write_import_file
from feedkit.mapping import Mapping, MappingError
from feedkit.migrate import MigrationInterrupted, MigrationReport, migrate
from feedkit.plan import Plan, PlanError
from feedkit.results import Activity, Page
from feedkit.schema import FIELDS, Field, FieldError, Reason, validate_activity, validate_partial
from feedkit.tables import (
    bookmarks_to_dataframe,
    comments_to_dataframe,
    follows_to_dataframe,
    reactions_to_dataframe,
    users_to_dataframe,
)

__version__ = "0.1.0"

__all__ = [
    "FIELDS",
    "APIError",
    "Activity",
    "AuthError",
    "Client",
    "Conversion",
    "FeedkitError",
    "Field",
    "FieldError",
    "ImportInterrupted",
    "ImportOptions",
    "ImportReport",
    "Mapping",
    "MappingError",
    "MigrationInterrupted",
    "MigrationReport",
    "NotFoundError",
    "Page",
    "Plan",
    "PlanError",
    "RateLimitError",
    "Reason",
    "Retry",
    "ServerError",
    "StoreError",
    "TransportError",
    "ValidationError",
    "bookmarks_to_dataframe",
    "comments_to_dataframe",
    "connect",
    "feed_to_dataframe",
    "follows_to_dataframe",
    "import_activities",
    "import_rows",
    "migrate",
    "query_to_dataframe",
    "reactions_to_dataframe",
    "show",
    "to_activities",
    "to_parquet",
    "users_to_dataframe",
    "validate_activity",
    "validate_partial",
    "validate_source",
    "write_import_file",
]
