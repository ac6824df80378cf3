"""The quota console, mounted at ``/quota/`` (the OpenAI-compatible API itself is ``gateway.urls`` at
``/v1/``)."""

from django.urls import URLPattern, URLResolver, path

from gateway import console_views as views

app_name = "quota"
urlpatterns: list[URLPattern | URLResolver] = [
    # members (OPC)
    path("", views.mine, name="mine"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
    path("usage/", views.usage, name="usage"),
    path("usage/export.<str:fmt>", views.usage_export, name="usage_export"),
    # consumption statements: the PDF (member or issuer) and the public verification
    path("statements/verify/", views.statement_lookup, name="statement_lookup"),
    path("statements/<int:pk>/pdf/", views.statement_pdf, name="statement_pdf"),
    path("statements/<str:code>/", views.statement_verify, name="statement_verify"),
    # operator
    path("operator/", views.operator_home, name="operator"),
    path("operator/usage/", views.operator_usage, name="operator_usage"),
    path("operator/usage/export.<str:fmt>", views.operator_usage_export, name="operator_usage_export"),
    path("operator/daily/", views.daily, name="daily"),
    path("operator/daily/rollup/", views.rollup, name="rollup"),
    path("operator/statements/", views.statements, name="statements"),
    path("operator/statements/<int:pk>/revoke/", views.statement_revoke, name="statement_revoke"),
    path("operator/invoices/", views.invoices, name="invoices"),
    path("operator/invoices/<int:pk>/", views.invoice_detail, name="invoice_detail"),
    path("prices/", views.prices, name="prices"),
    # upstream channels (operator or compliant compute provider)
    path("channels/", views.channels, name="channels"),
    path("channels/<int:pk>/", views.channel_detail, name="channel_detail"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel_test"),
    path("channels/<int:pk>/delete/", views.channel_delete, name="channel_delete"),
]
