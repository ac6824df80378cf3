from django.urls import URLPattern, URLResolver, path

from rights import views

app_name = "rights"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    # registry
    path("works/", views.works, name="works"),
    path("works/new/", views.work_register, name="work_register"),
    path("works/<int:pk>/", views.work_detail, name="work_detail"),
    path("works/<int:pk>/certificate.pdf", views.certificate_pdf, name="certificate_pdf"),
    # public verification
    path("verify/", views.verify_lookup, name="verify_lookup"),
    path("verify/<str:code>/", views.verify, name="verify"),
    path("verify/<str:code>/file/", views.verify_file, name="verify_file"),
    path("chain/", views.chain_view, name="chain"),
    # detection
    path("scans/", views.scans, name="scans"),
    path("scans/<int:pk>/", views.scan_detail, name="scan_detail"),
    path("matches/<int:pk>/", views.evidence, name="evidence"),
    path("matches/<int:pk>/report.pdf", views.evidence_pdf, name="evidence_pdf"),
    path("matches/<int:pk>/case/", views.case_open, name="case_open"),
    # cases
    path("cases/", views.cases, name="cases"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/status/", views.case_status, name="case_status"),
    path("cases/<int:pk>/notes/", views.case_note, name="case_note"),
    path("cases/<int:pk>/compensation/", views.case_compensation, name="case_compensation"),
]
