"""The web app: cohort view, person view, lifestyle log, imports, consultation reports, REST API."""

from smoulder.web.app import create_app
from smoulder.web.settings import WebSettings

__all__ = ["create_app", "WebSettings"]
