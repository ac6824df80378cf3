from django.urls import path

from subsidies import views

app_name = "subsidies"
urlpatterns = [
    # public
    path("policies/", views.policies, name="policies"),
    path("policies/<slug:policy_id>/", views.policy_detail, name="policy_detail"),
    path("verify/<str:code>/", views.package_verify, name="package_verify"),
    # members (OPCs; operators for their own costs)
    path("my/", views.my, name="my"),
    path("my/policies/<slug:policy_id>/", views.my_policy, name="my_policy"),
    path("my/policies/<slug:policy_id>/consent/", views.consent, name="consent"),
    path("my/policies/<slug:policy_id>/consent/revoke/", views.consent_revoke, name="consent_revoke"),
    path("my/shares/<int:pk>/", views.my_share, name="my_share"),
    path("expenses/", views.expenses, name="expenses"),
    path("expenses/<int:pk>/", views.expense_detail, name="expense_detail"),
    path("expenses/<int:pk>/evidence/", views.expense_evidence, name="expense_evidence"),
    path("expenses/<int:pk>/file/", views.expense_file, name="expense_file"),
    path("commute/", views.commute, name="commute"),
    path("documents/", views.documents, name="documents"),
    path("documents/<int:pk>/file/", views.document_file, name="document_file"),
    # operator
    path("operator/review/", views.review, name="review"),
    path("operator/expenses/<int:pk>/approve/", views.expense_approve, name="expense_approve"),
    path("operator/expenses/<int:pk>/reject/", views.expense_reject, name="expense_reject"),
    path("operator/documents/<int:pk>/approve/", views.document_approve, name="document_approve"),
    path("operator/documents/<int:pk>/reject/", views.document_reject, name="document_reject"),
    path("operator/usage-import/", views.import_usage, name="import_usage"),
    path("operator/eligibility/", views.members, name="members"),
    path(
        "operator/members/<int:org_pk>/policies/<slug:policy_id>/", views.member_policy, name="member_policy"
    ),
    path("operator/batches/", views.batches, name="batches"),
    path("operator/batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("operator/batches/<int:pk>/refresh/", views.batch_refresh, name="batch_refresh"),
    path("operator/batches/<int:pk>/submit/", views.batch_submit, name="batch_submit"),
    path("operator/batches/<int:pk>/cancel/", views.batch_cancel, name="batch_cancel"),
    path("operator/batches/<int:pk>/review/", views.batch_review, name="batch_review"),
    path("operator/batches/<int:pk>/approve/", views.batch_approve, name="batch_approve"),
    path("operator/batches/<int:pk>/reject/", views.batch_reject, name="batch_reject"),
    path("operator/batches/<int:pk>/funds/", views.batch_funds, name="batch_funds"),
    path("operator/batches/<int:pk>/distribute/", views.batch_distribute, name="batch_distribute"),
    # operators and authorities
    path("batches/<int:pk>/package/<str:kind>/", views.batch_package, name="batch_package"),
    path("oversight/", views.oversight, name="oversight"),
    path("oversight/batches.csv", views.oversight_csv, name="oversight_csv"),
    path("oversight/batches/<int:pk>/", views.batch_report, name="batch_report"),
]
