"""The OpenAI-compatible endpoints as Django async views: thin adapters around ``gateway.proxy``.

They serve ``/v1/`` wherever Django does (test client, runserver, WSGI). In production the gateway's own ASGI
app (``gateway.asgi``, wired in ``opchub/asgi.py``) answers ``/v1/`` before Django's middleware stack, with
the same ``gateway.proxy`` code.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from gateway import proxy


def _incoming(request: HttpRequest) -> proxy.Incoming:
    return proxy.Incoming(
        method=request.method or "GET",
        authorization=request.headers.get("Authorization", ""),
        body=request.body,
    )


def to_django(out: proxy.Outgoing) -> HttpResponseBase:
    response: HttpResponseBase
    if out.stream is not None:
        response = StreamingHttpResponse(out.stream, status=out.status, content_type=out.content_type)
    else:
        response = HttpResponse(out.body, status=out.status, content_type=out.content_type)
    for name, value in out.headers.items():
        response[name] = value
    return response


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    return to_django(await proxy.chat_completions(_incoming(request)))


@csrf_exempt
async def embeddings(request: HttpRequest) -> HttpResponseBase:
    return to_django(await proxy.embeddings(_incoming(request)))


@csrf_exempt
async def models_list(request: HttpRequest) -> HttpResponseBase:
    return to_django(await proxy.models_list(_incoming(request)))
