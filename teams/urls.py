from django.urls import URLPattern, URLResolver, path

from teams import views

app_name = "teams"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.my_teams, name="my_teams"),
    path("orders/<int:pk>/propose/", views.propose, name="propose"),
    path("<int:pk>/", views.team_detail, name="team_detail"),
    path("<int:pk>/invite/", views.team_invite, name="team_invite"),
    path("<int:pk>/members/add/", views.team_member_add, name="team_member_add"),
    path("<int:pk>/members/remove/", views.team_member_remove, name="team_member_remove"),
    path("<int:pk>/split/", views.team_split, name="team_split"),
    path("<int:pk>/accept/", views.team_accept, name="team_accept"),
    path("<int:pk>/decline/", views.team_decline, name="team_decline"),
    path("<int:pk>/sign/", views.team_sign, name="team_sign"),
    path("<int:pk>/submit/", views.team_submit, name="team_submit"),
    path("<int:pk>/award/", views.team_award, name="team_award"),
    path("<int:pk>/withdraw/", views.team_withdraw, name="team_withdraw"),
    path("<int:pk>/sub-milestones/", views.team_sub_milestone, name="team_sub_milestone"),
    path("<int:pk>/sub-milestones/done/", views.team_sub_done, name="team_sub_done"),
    path("contracts/<int:pk>/subcontract/", views.subcontract_post, name="subcontract_post"),
    path("contracts/<int:pk>/subcontracting/", views.contract_subcontracting, name="contract_subcontracting"),
    path("subcontracts/<int:pk>/", views.subcontract_detail, name="subcontract_detail"),
    path("subcontracts/<int:pk>/take/", views.subcontract_take, name="subcontract_take"),
    path("subcontracts/<int:pk>/deliver/", views.subcontract_deliver, name="subcontract_deliver"),
    path("subcontracts/<int:pk>/review/", views.subcontract_review, name="subcontract_review"),
    path("subcontracts/<int:pk>/cancel/", views.subcontract_cancel, name="subcontract_cancel"),
]
