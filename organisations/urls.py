from django.urls import path

from organisations import views

app_name = "organisations"
urlpatterns = [
    path("<int:pk>/", views.organisation_detail, name="detail"),
    path("edit/", views.organisation_edit, name="edit"),
    path("verification/request/", views.request_verification, name="request_verification"),
    path("profile/", views.profile_edit, name="profile_edit"),
    path("profile/portfolio/", views.portfolio_add, name="portfolio_add"),
    path("profile/portfolio/<int:pk>/remove/", views.portfolio_remove, name="portfolio_remove"),
    path("members/", views.members, name="members"),
    path("members/<int:pk>/verify/", views.member_verify, name="member_verify"),
    path("members/<int:pk>/reject/", views.member_reject, name="member_reject"),
    path("directory/", views.opc_directory, name="directory"),
]
