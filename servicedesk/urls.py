from django.urls import URLPattern, URLResolver, path

from servicedesk import views

app_name = "servicedesk"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.desk, name="desk"),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/messages/", views.ticket_message, name="ticket_message"),
    path("tickets/<int:pk>/route/", views.ticket_route, name="ticket_route"),
    path("tickets/<int:pk>/action/", views.ticket_action, name="ticket_action"),
    path("tickets/<int:pk>/rating/", views.ticket_rate, name="ticket_rate"),
    path("attachments/<int:pk>/", views.ticket_attachment, name="ticket_attachment"),
    path("quotas/<int:org_pk>/", views.quota_grant, name="quota_grant"),
    path("licences/", views.licences, name="licences"),
    path("licences/cases/new/", views.case_new, name="case_new"),
    path("licences/cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("licences/cases/<int:pk>/statement/", views.case_statement, name="case_statement"),
    path("licences/cases/<int:pk>/status/", views.case_transition, name="case_transition"),
    path("licences/items/<int:pk>/", views.case_item, name="case_item"),
    path("licences/items/<int:pk>/document/", views.case_document, name="case_document"),
]
