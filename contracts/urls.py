from django.urls import URLPattern, URLResolver, path

from contracts import views

app_name = "contracts"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.reviews, name="reviews"),
    path("review/", views.review_new, name="review_new"),
    path("review/from-file/", views.review_from_file, name="review_from_file"),
    path("reviews/<int:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/pdf/", views.review_pdf, name="review_pdf"),
    path("templates/", views.templates, name="templates"),
    path("templates/contracts/<int:pk>/", views.contract_template, name="contract_template"),
    path("templates/contracts/<int:pk>/pdf/", views.contract_template_pdf, name="contract_template_pdf"),
]
