from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from feedback_loop.models import Project


class Command(BaseCommand):
    help = "Create a project and print its public key and its secret key (shown this once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name for the chat product, e.g. 'Support bot'.")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            metavar="URL",
            help="An origin allowed to send feedback (repeatable), e.g. https://app.example.com "
            "or https://*.example.com. None: any origin.",
        )
        parser.add_argument(
            "--no-token",
            action="store_true",
            help="Accept events without a signed trace token (not for production).",
        )
        parser.add_argument("--retention-days", type=int, default=None)

    def handle(self, *args, name, origin, no_token, retention_days, **options):
        try:
            project, secret = Project.create(
                name,
                allowed_origins="\n".join(origin),
                require_token=not no_token,
                retention_days=retention_days,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"Created project {project.name!r}."))
        self.stdout.write(f"public key: {project.public_key}")
        self.stdout.write(f"secret key: {secret}")
        self.stdout.write(
            "Keep the secret key on your servers only; it is shown this once and stored hashed."
        )
