from django.urls import path

from ledger import views

app_name = "ledger"
urlpatterns = [
    path("", views.accounts_view, name="accounts"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
]
