from django.core.management.base import BaseCommand

from core.demo import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Load the OPC Hub demo data (idempotent) and print one login per role."

    def handle(self, *args: object, **options: object) -> None:
        logins = load_demo()
        self.stdout.write(self.style.SUCCESS("OPC Hub demo — http://127.0.0.1:8000/"))
        self.stdout.write(f"Password for every demo login / 所有演示账号密码: {DEMO_PASSWORD}")
        for row in logins:
            self.stdout.write(f"  {row.role:<44} {row.login:<26} {row.organisation}")
