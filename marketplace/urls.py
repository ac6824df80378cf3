from django.urls import path

from marketplace import views

app_name = "marketplace"
urlpatterns = [
    # public
    path("", views.browse, name="browse"),
    path("procurement/", views.procurement_zone, name="procurement_zone"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/recommendations/", views.order_recommendations, name="order_recommendations"),
    # clients (and OPCs passing work on)
    path("my/orders/", views.my_orders, name="my_orders"),
    path("orders/new/", views.order_post, name="order_post"),
    path("orders/template/", views.acceptance_template, name="acceptance_template"),
    path("orders/<int:pk>/edit/", views.order_edit, name="order_edit"),
    path("orders/<int:pk>/publish/", views.order_publish, name="order_publish"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order_cancel"),
    path("orders/<int:pk>/attachments/", views.order_attach, name="order_attach"),
    path("orders/<int:pk>/invite/", views.order_invite, name="order_invite"),
    path("orders/<int:pk>/reassign/", views.direct_reassign, name="direct_reassign"),
    path("bids/<int:pk>/shortlist/", views.bid_shortlist, name="bid_shortlist"),
    path("bids/<int:pk>/award/", views.bid_award, name="bid_award"),
    path("entries/<int:pk>/pick/", views.entry_pick, name="entry_pick"),
    # OPCs
    path("orders/<int:pk>/bid/", views.bid_submit, name="bid_submit"),
    path("bids/<int:pk>/withdraw/", views.bid_withdraw, name="bid_withdraw"),
    path("orders/<int:pk>/entry/", views.entry_submit, name="entry_submit"),
    path("orders/<int:pk>/accept/", views.direct_accept, name="direct_accept"),
    path("orders/<int:pk>/decline/", views.direct_decline, name="direct_decline"),
    path("my/bids/", views.my_bids, name="my_bids"),
    # both parties
    path("my/contracts/", views.my_contracts, name="my_contracts"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("milestones/<int:pk>/fund/", views.milestone_fund, name="milestone_fund"),
    path("milestones/<int:pk>/deliver/", views.milestone_deliver, name="milestone_deliver"),
    path("milestones/<int:pk>/accept/", views.milestone_accept, name="milestone_accept"),
    path("milestones/<int:pk>/revision/", views.milestone_revision, name="milestone_revision"),
    path("milestones/<int:pk>/dispute/", views.dispute_open, name="dispute_open"),
    # operators
    path("operator/disputes/", views.disputes, name="disputes"),
    path("operator/disputes/<int:pk>/", views.dispute_decide, name="dispute_decide"),
    path("operator/orders/", views.operator_orders, name="operator_orders"),
    # everyone with an organisation
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
]
