"""ASGI entry point (``uvicorn opchub.asgi:application``, see ``scripts/asgi-server``).

``/v1/`` — the OpenAI-compatible token-quota gateway — is answered by ``gateway.asgi.GatewayASGI`` without
Django's middleware stack; every other path goes to Django. The gateway front also runs the lifespan
(database thread pool, background posting of usage to the ledger, clean shutdown)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opchub.settings")
django_application = get_asgi_application()

from gateway.asgi import GatewayASGI  # noqa: E402  (needs the apps loaded)

application = GatewayASGI(django_application)
