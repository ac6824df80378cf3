"""Background jobs of the marketplace: thin callers of ``marketplace.services`` (ids in, nothing clever)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django_tasks import task

from marketplace import services
from marketplace.models import Notification


@task()
def release_overdue_milestones() -> int:
    """Release delivered milestones the client left unanswered past the auto-release period (schedule it
    daily, e.g. from cron: ``manage.py release_overdue_milestones``)."""
    return services.release_overdue_milestones()


def _owner_email(organisation_id: int) -> str:
    """The e-mail address of the organisation's (first) owner, or ""."""
    from organisations.models import MemberRole, Membership

    email = (
        Membership.objects.filter(organisation_id=organisation_id, role=MemberRole.OWNER)
        .exclude(user__email="")
        .exclude(user__email__isnull=True)
        .order_by("created_at", "pk")
        .values_list("user__email", flat=True)
        .first()
    )
    return email or ""


@task()
def send_notification_email(notification_id: int) -> bool:
    """E-mail one notification to its person (else the organisation's contact address, else its owner's
    address), in the platform language. Returns whether a mail was sent."""
    notification = Notification.objects.select_related("recipient", "user").filter(pk=notification_id).first()
    if notification is None:
        return False
    address = (
        (notification.user.email if notification.user else "")
        or notification.recipient.contact_email
        or _owner_email(notification.recipient_id)
    )
    if not address:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        text = notification.text
        subject = translation.gettext("OPC Hub: %(text)s") % {"text": text[:60]}
    link = f"{settings.OPCHUB_PUBLIC_URL}{notification.link}" if notification.link else ""
    send_mail(subject, f"{text}\n\n{link}".strip(), None, [address])
    return True
