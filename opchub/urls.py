from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from opchub.api import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("core.urls")),
    path("accounts/", include("accounts.urls")),
    path("org/", include("organisations.urls")),
    path("", include("communities.urls")),
    path("audit/", include("audit.urls")),
    path("ledger/", include("ledger.urls")),
    path("market/", include("marketplace.urls")),
    path("dispatch/", include("dispatch.urls")),
    path("trust/", include("trust.urls")),
    path("quota/", include("gateway.console_urls")),
    path("subsidies/", include("subsidies.urls")),
    path("contracts/", include("contracts.urls")),
    path("desk/", include("servicedesk.urls")),
    path("rights/", include("rights.urls")),
    path("events/", include("events.urls")),
    path("teams/", include("teams.urls")),
    path("api/", api.urls),
    path("v1/", include("gateway.urls")),  # OpenAI-compatible token-quota gateway
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
