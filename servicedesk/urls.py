from django.urls import URLPattern, URLResolver

app_name = "servicedesk"
urlpatterns: list[URLPattern | URLResolver] = []
