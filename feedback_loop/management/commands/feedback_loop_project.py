"""Show or change a project without the admin: origins, the token requirement, retention,
curators, and key rotation."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Model

from feedback_loop.models import Project
from feedback_loop.origins import parse_allowlist


class Command(BaseCommand):
    help = (
        "Show a project (by its public key, id or name) or change it: allowed origins, the "
        "token requirement, retention, curators, and its keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="The project's public key (pk_...), id or name.")
        origins = parser.add_argument_group("origins")
        origins.add_argument(
            "--origin",
            action="append",
            metavar="URL",
            help="Replace the allowed origins with these (repeatable). The site's own origin "
            "is always allowed.",
        )
        origins.add_argument("--add-origin", action="append", default=[], metavar="URL")
        origins.add_argument("--remove-origin", action="append", default=[], metavar="URL")
        origins.add_argument(
            "--any-origin", action="store_true", help="Empty the list: accept any origin."
        )
        token = parser.add_mutually_exclusive_group()
        token.add_argument("--require-token", action="store_true", dest="require_token")
        token.add_argument(
            "--no-token",
            action="store_true",
            help="Accept events without a signed trace token (not for production).",
        )
        parser.add_argument(
            "--retention-days", type=int, metavar="N", help="0 keeps everything forever."
        )
        active = parser.add_mutually_exclusive_group()
        active.add_argument("--activate", action="store_true")
        active.add_argument("--deactivate", action="store_true", help="Refuse its events.")
        curators = parser.add_argument_group("curators (staff who see the project)")
        curators.add_argument("--add-curator", action="append", default=[], metavar="USERNAME")
        curators.add_argument("--remove-curator", action="append", default=[], metavar="USERNAME")
        curators.add_argument("--add-group", action="append", default=[], metavar="GROUP")
        curators.add_argument("--remove-group", action="append", default=[], metavar="GROUP")
        rotate = parser.add_argument_group("keys")
        rotate.add_argument(
            "--rotate-secret",
            action="store_true",
            help="Issue a new secret key (printed once); the old one stops working at once.",
        )
        rotate.add_argument(
            "--rotate-public",
            action="store_true",
            help="Issue a new public key; pages with the old one are refused until updated.",
        )

    def handle(self, *args, **options):
        project = self._project(options["project"])
        with transaction.atomic():
            changes = self._change(project, options)
            secret = self._rotate(project, options, changes)
            try:
                project.full_clean()
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            project.save()
            self._curators(project, options, changes)
        for change in changes:
            self.stdout.write(self.style.SUCCESS(change))
        self._show(project)
        if secret:
            self.stdout.write(f"secret key: {secret}")
            self.stdout.write(
                "Keep the secret key on your servers only; it is shown this once and stored hashed."
            )

    def _project(self, ref: str) -> Project:
        query = Project.objects.filter(public_key=ref)
        if ref.isdigit():
            query = query | Project.objects.filter(pk=int(ref))
        found = list(query) or list(Project.objects.filter(name=ref))
        if len(found) != 1:
            raise CommandError(
                f"No project is {ref!r}."
                if not found
                else f"Several projects are named {ref!r}. Give its public key."
            )
        return found[0]

    def _change(self, project: Project, options) -> list[str]:
        changes = []
        origins = project.origin_list
        if options["any_origin"]:
            origins = []
        if options["origin"] is not None:
            origins = list(options["origin"])
        origins += [o for o in options["add_origin"] if o not in origins]
        removed = set(options["remove_origin"])
        missing = removed - set(origins)
        if missing:
            raise CommandError(f"Not an allowed origin of the project: {', '.join(missing)}.")
        origins = [o for o in origins if o not in removed]
        if origins != project.origin_list:
            project.allowed_origins = "\n".join(origins)
            changes.append("Allowed origins changed.")
        if options["require_token"] or options["no_token"]:
            project.require_token = bool(options["require_token"])
            changes.append(f"Tokens {'required' if project.require_token else 'not required'}.")
        if options["retention_days"] is not None:
            if options["retention_days"] < 0:
                raise CommandError("--retention-days must be 0 or more.")
            project.retention_days = options["retention_days"] or None
            changes.append("Retention changed.")
        if options["activate"] or options["deactivate"]:
            project.is_active = bool(options["activate"])
            changes.append("Activated." if project.is_active else "Deactivated.")
        return changes

    def _rotate(self, project: Project, options, changes: list[str]) -> str | None:
        if options["rotate_public"]:
            project.rotate_public_key()
            changes.append("New public key: update the pages and settings that use the old one.")
        if options["rotate_secret"]:
            changes.append("New secret key: the old one no longer works.")
            return project.set_secret_key()
        return None

    def _curators(self, project: Project, options, changes: list[str]) -> None:
        users = get_user_model()
        for verb in ("add", "remove"):
            for name in options[f"{verb}_curator"]:
                user = self._find(users, users.USERNAME_FIELD, name)
                if verb == "add" and not user.is_staff:
                    raise CommandError(f"{name!r} is not staff: curators sign in to the admin.")
                getattr(project.members, verb)(user)
                changes.append(f"Curator {name!r} {verb}{'ed' if verb == 'add' else 'd'}.")
            for name in options[f"{verb}_group"]:
                getattr(project.member_groups, verb)(self._find(Group, "name", name))
                changes.append(f"Curator group {name!r} {verb}{'ed' if verb == 'add' else 'd'}.")

    @staticmethod
    def _find(model: type[Model], field: str, name: str) -> Any:
        try:
            return model._default_manager.get(**{field: name})
        except ObjectDoesNotExist:
            raise CommandError(f"No {model._meta.verbose_name} is {name!r}.") from None

    def _show(self, project: Project) -> None:
        members = ", ".join(sorted(str(u) for u in project.members.all())) or "-"
        groups = ", ".join(sorted(g.name for g in project.member_groups.all())) or "-"
        origins = parse_allowlist(project.allowed_origins)
        lines = [
            f"project: {project.name} (id {project.pk}, "
            + ("active)" if project.is_active else "inactive: its events are refused)"),
            f"public key: {project.public_key}",
            f"secret key starts with: {project.secret_key_prefix} (stored hashed)",
            "allowed origins: "
            + (", ".join(origins) if origins else "any")
            + " (and the site's own)",
            f"tokens: {'required' if project.require_token else 'not required'}",
            "retention: "
            + (f"{project.retention_days} days" if project.retention_days else "forever"),
            f"curators: {members}; groups: {groups} (superusers always)",
        ]
        self.stdout.write("\n".join(lines))
