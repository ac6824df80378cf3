from django.urls import path

from dispatch import views

app_name = "dispatch"
urlpatterns = [
    path("", views.runs, name="runs"),
    path("run/", views.run_now, name="run_now"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("offers/", views.my_offers, name="my_offers"),
    path("offers/<int:pk>/respond/", views.offer_respond, name="offer_respond"),
]
