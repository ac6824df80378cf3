"""The controlled skill taxonomy of OPC work named in the seeds (and a few neighbours)."""

from django.db import migrations

SKILLS = [
    ("ai-short-drama", "AI短剧", "AI short drama"),
    ("digital-human-live", "数字人直播", "Digital-human live streaming"),
    ("aigc-video", "AIGC视频", "AIGC video"),
    ("design", "设计", "Design"),
    ("agent-dev", "智能体/AI工具开发", "Agent and AI-tool development"),
    ("cross-border-ecommerce", "跨境AI电商", "Cross-border AI e-commerce"),
    ("new-media-ops", "新媒体运营", "New-media operations"),
    ("compute-services", "算力服务", "Compute services"),
    ("film-post-production", "影视后期", "Film post-production"),
    ("ai-music-audio", "AI音乐与音频", "AI music and audio"),
    ("copywriting", "文案与内容创作", "Copywriting and content"),
    ("marketing", "营销策划", "Marketing"),
    ("3d-modeling", "三维建模", "3D modelling"),
    ("data-annotation", "数据标注", "Data annotation"),
    ("game-dev", "游戏开发", "Game development"),
    ("education-training", "AI教育培训", "AI education and training"),
]


def forwards(apps, schema_editor):
    Skill = apps.get_model("organisations", "Skill")
    for position, (code, zh, en) in enumerate(SKILLS):
        Skill.objects.update_or_create(code=code, defaults={"name_zh": zh, "name_en": en, "position": position})


def backwards(apps, schema_editor):
    apps.get_model("organisations", "Skill").objects.filter(code__in=[c for c, _, _ in SKILLS]).delete()


class Migration(migrations.Migration):
    dependencies = [("organisations", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
