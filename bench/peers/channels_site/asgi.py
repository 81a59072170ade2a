"""ASGI entry point for daphne: WebSockets at /ws/relay/ go to the relay consumer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "channels_site.settings")

from django.core.asgi import get_asgi_application
from django.urls import path

from channels.routing import ProtocolTypeRouter, URLRouter

django_app = get_asgi_application()

from channels_site.consumers import RelayConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_app,
        "websocket": URLRouter([path("ws/relay/", RelayConsumer.as_asgi())]),
    }
)
