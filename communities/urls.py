from django.urls import path

from communities import views

app_name = "communities"
urlpatterns = [
    # public
    path("communities/", views.directory, name="directory"),
    path("communities/<int:pk>/", views.public_detail, name="public_detail"),
    path("statements/verify/", views.statement_lookup, name="statement_lookup"),
    path("statements/<int:pk>/pdf/", views.statement_pdf, name="statement_pdf"),
    path("statements/<str:code>/", views.statement_verify, name="statement_verify"),
    # operator
    path("operator/communities/", views.manage_list, name="manage_list"),
    path("operator/networks/", views.network_create, name="network_create"),
    path("operator/communities/<int:pk>/", views.manage_detail, name="manage_detail"),
    path("operator/communities/<int:pk>/edit/", views.manage_edit, name="manage_edit"),
    path("operator/communities/<int:pk>/workstations/", views.workstations_add, name="workstations_add"),
    path("operator/workstations/<int:pk>/status/", views.workstation_status, name="workstation_status"),
    path("operator/members/<int:org_pk>/assign/", views.assign_for, name="assign_for"),
    path("operator/residencies/<int:pk>/end/", views.residency_end, name="residency_end"),
    path("operator/residencies/<int:pk>/statements/", views.statement_issue, name="statement_issue"),
    path("operator/statements/<int:pk>/revoke/", views.statement_revoke, name="statement_revoke"),
    # resident OPC
    path("my/workstation/", views.my_workstation, name="my_workstation"),
    # government authorities
    path("oversight/", views.oversight, name="oversight"),
    path("oversight/communities.csv", views.oversight_csv, name="oversight_csv"),
]
