from django.urls import URLPattern, URLResolver

app_name = "quota"
urlpatterns: list[URLPattern | URLResolver] = []
