"""The status page: server-rendered pages and their JSON, on Starlette, read through a `StatusSource`.

    from imagebot.service.ui import UiSettings, ui_routes
    routes = ui_routes(source, actions, UiSettings(token=token))

`source.StatusSource` and `source.UiActions` are what the page needs from the service;
`adapter` implements them on the running service.
"""

from imagebot.service.ui.auth import PageAccess, UiSettings
from imagebot.service.ui.routes import ui_routes
from imagebot.service.ui.source import StatusSource, UiActions

__all__ = ["PageAccess", "StatusSource", "UiActions", "UiSettings", "ui_routes"]
