from django.urls import URLPattern, URLResolver, path

from trust import views

app_name = "trust"
urlpatterns: list[URLPattern | URLResolver] = [
    # messages
    path("messages/", views.inbox, name="inbox"),
    path("messages/start/", views.thread_start, name="thread_start"),
    path("messages/<int:pk>/", views.thread_detail, name="thread_detail"),
    path("messages/attachments/<int:pk>/", views.attachment, name="attachment"),
    # reviews and trust profiles
    path("contracts/<int:pk>/review/", views.review, name="review"),
    path("organisations/<int:pk>/", views.organisation, name="organisation"),
    # price reference (htmx hint on the posting form)
    path("price-reference/", views.price_hint, name="price_hint"),
    # reports
    path("reports/new/", views.report_new, name="report_new"),
    path("reports/", views.my_reports, name="my_reports"),
    path("operator/reports/", views.report_queue, name="report_queue"),
    path("operator/reports/<int:pk>/", views.report_detail, name="report_detail"),
    # order-backed credit profile (OPC) and its public verification
    path("credit/", views.credit_list, name="credit_list"),
    path("credit/consents/<int:pk>/export/", views.credit_export, name="credit_export"),
    path("credit/consents/<int:pk>/revoke/", views.credit_revoke, name="credit_revoke"),
    path("credit/exports/<int:pk>/pdf/", views.credit_pdf, name="credit_pdf"),
    path("credit/exports/<int:pk>/json/", views.credit_json, name="credit_json"),
    path("credit/verify/", views.credit_lookup, name="credit_lookup"),
    path("credit/verify/<str:code>/", views.credit_verify, name="credit_verify"),
]
