from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError

from feedback_loop.internal.erasure import forget_user
from feedback_loop.models import Project


class Command(BaseCommand):
    help = (
        "Delete everything one end user left in a project and every copy of it: their events "
        "(votes, comments, edits, copied text), the traces of their own conversations, the "
        "preference pairs, dataset items and items of frozen versions holding their text, the "
        "expected outputs of reviews prefilled from their edits and the outputs of unregistered "
        "traces made from their events. Other traces are rolled up again without them."
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", help="The end user id your site sends (user_id).")
        parser.add_argument(
            "--project",
            required=True,
            metavar="PUBLIC_KEY",
            help="The project's public key (pk_...).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args, user_id, project, dry_run, **options):
        try:
            project = Project.objects.resolve(project)
        except (ObjectDoesNotExist, ValueError) as exc:
            raise CommandError(str(exc)) from None
        try:
            report = forget_user(project, user_id, dry_run=dry_run)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        verb, clear = ("Would delete", "would clear") if dry_run else ("Deleted", "cleared")
        self.stdout.write(
            f"{verb} {report.events} events, {report.traces} traces, {report.pairs} preference "
            f"pairs, {report.dataset_items} dataset items and {report.version_items} items of "
            f"frozen versions of user {user_id!r} in {project}; {clear} the expected output of "
            f"{report.reviews_cleared} reviews, the output of {report.traces_cleared} "
            f"unregistered traces and the model's answer of {report.answers_cleared} dataset "
            "items."
        )
        updated = "would be" if dry_run else "were"
        self.stdout.write(f"{report.traces_updated} other traces {updated} rolled up again.")
        if not dry_run:
            self.stdout.write(self.style.SUCCESS("Done."))
