"""Mounted at ``/v1/`` (OpenAI's path layout), so ``base_url="https://<host>/v1"`` works with every SDK."""

from django.urls import path

from gateway import views

app_name = "gateway"

urlpatterns = [
    path("chat/completions", views.chat_completions, name="chat_completions"),
    path("embeddings", views.embeddings, name="embeddings"),
    path("models", views.models_list, name="models"),
]
