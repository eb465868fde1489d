"""The clinic store: SQLAlchemy 2 models, migrations run from code, import service and analyses.

Examples
--------
>>> from smoulder.store import Store
>>> store = Store("sqlite://")  # in memory; use sqlite:///path.sqlite or a PostgreSQL URL
>>> sorted(store.engine.dialect.name for _ in [0])
['sqlite']
"""

from smoulder.store.db import Store, current_revision, default_url, make_engine, migrate
from smoulder.store.importer import (
    KINDS,
    ImportFailed,
    ImportReport,
    import_file,
    import_frame,
    import_into,
)

__all__ = [
    "Store",
    "make_engine",
    "migrate",
    "current_revision",
    "default_url",
    "KINDS",
    "ImportFailed",
    "ImportReport",
    "import_file",
    "import_frame",
    "import_into",
]
