"""Members in and out, accounts and operations out (django-import-export), CSV and XLSX.

- **Members** are imported with the model's own rules (``full_clean``: email, E.164 phone, the
  country as django-countries knows it, ``external_ref`` unique). ``external_ref`` is the import
  id: a row whose ``external_ref`` exists updates that member, so importing the same file twice
  changes nothing; a row without one is an error (it could not be matched next time), and so are
  two rows with the same one (the second would overwrite the first). The admin
  shows every row's errors in a preview, inside a transaction that is rolled back; nothing is
  saved until the preview is confirmed, and a file with errors cannot be confirmed.
- **Exports** list their columns explicitly: never a secret (``secrets``, ``secret_input``,
  ``challenge_image``, a connection's credentials), nor what may carry one (an operation's
  ``input``, ``result`` with its login links, ``error`` with provider answers).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.safestring import mark_safe
from import_export import fields, resources, results
from import_export.formats.base_formats import CSV, XLSX
from import_export.instance_loaders import CachedInstanceLoader

from ..models import Account, Member, Operation

FORMATS = [CSV, XLSX]

MEMBER_COLUMNS = ("external_ref", "email", "first_name", "last_name", "phone", "country")
IMPORT_ID = "external_ref"  # how a later import finds the member a row made
# the file's row of its first member: the first names the columns (the library counts from 1)
FIRST_ROW = 2
# the most rows an import takes: django-import-export checks and saves every row inside the request,
# twice (the preview, then its confirmation), at 1.5-2.9 ms a row on a 2-core machine (10,000 new
# members: 15-29 s to preview, 18-22 s to confirm), and the web server stops a request at 30 s
# (gunicorn's timeout), rolling it back: a bigger file would fail as a server error, nothing saved
IMPORT_MAX_ROWS = 5_000


class FileRefused(Exception):
    """What is wrong with an imported file as a whole, in a sentence for the person importing it."""


class SentenceError(results.Error):
    """An import's error; one about the whole file is shown as its sentence alone, without the
    Python traceback the library puts under it (the library logs it)."""

    @property
    def traceback(self):
        return "" if isinstance(self.error, FileRefused) else super().traceback


class StylelessDiff(resources.Diff):
    """The preview's old and new values without the inline styles of ``diff_match_patch``'s HTML,
    which the Content-Security-Policy refuses (every value then read as underlined, like a link);
    ``provisioning/import.css`` colours the <ins> and <del> instead."""

    STYLED = (('<ins style="background:#e6ffe6;">', "<ins>"), ('<del style="background:#ffe6e6;">', "<del>"))

    def as_html(self):
        cells = []
        for cell in super().as_html():
            for styled, plain in self.STYLED:
                cell = cell.replace(styled, plain)
            # the library escapes the values' "<" and ">": no value can hold a tag to match or add
            cells.append(mark_safe(cell))
        return cells


class MemberResource(resources.ModelResource):
    class Meta:
        model = Member
        fields = MEMBER_COLUMNS + ("created_at",)
        export_order = MEMBER_COLUMNS + ("created_at",)
        import_id_fields = (IMPORT_ID,)
        # the members the file names, read in one query, not one a row
        instance_loader_class = CachedInstanceLoader
        clean_model_instances = True  # full_clean: the model's rules, as in the admin form and the API
        skip_unchanged = True
        report_skipped = True

    def get_import_fields(self):
        return [self.fields[name] for name in MEMBER_COLUMNS]

    def get_error_result_class(self):
        return SentenceError

    def get_diff_class(self):
        return StylelessDiff

    def before_import(self, dataset, **kwargs):
        """A file without the ``external_ref`` column (the library's own check says it in its
        terms, "declared in 'import_id_fields'", above a traceback) or with more rows than an
        import takes is refused in a sentence."""
        super().before_import(dataset, **kwargs)
        if IMPORT_ID not in (dataset.headers or []):
            self.refuse(dataset, f"The file has no {IMPORT_ID} column. Its first row names the columns, and "
                        f"{IMPORT_ID} must be one of them: each member's reference in your organisation, which the "
                        "next import uses to find the member again. Add the column, then import the file again.")
        if len(dataset) > IMPORT_MAX_ROWS:
            self.refuse(dataset, f"The file has {len(dataset):,} rows, more than the {IMPORT_MAX_ROWS:,} one import "
                        f"takes: each row is checked and saved while the page waits. Split it into files of at most "
                        f"{IMPORT_MAX_ROWS:,} rows and import them one after the other (a member a later file names "
                        "again is updated, not added twice).")
        # the cells as they are imported (stripped, a number as written), in the dataset itself:
        # the instance loader reads it before any row is imported
        for column in MEMBER_COLUMNS:
            if column in dataset.headers:
                values = [_cell(value) for value in dataset[column]]
                del dataset[column]
                dataset.append_col(values, header=column)
        # the file's rows of each reference: a second row of one would overwrite the first, unseen
        self.rows_of_ref: dict[str, list[int]] = {}
        for number, ref in enumerate(dataset[IMPORT_ID], FIRST_ROW):
            if ref:
                self.rows_of_ref.setdefault(ref, []).append(number)

    @staticmethod
    def refuse(dataset, sentence: str):
        """Refuse the whole file in ``sentence``, its rows taken out first: the library records
        the error, then goes on with every row (each failed again, 6,000 errors under the sentence)."""
        del dataset[0:len(dataset)]
        raise FileRefused(sentence)

    def before_import_row(self, row, **kwargs):
        for column in MEMBER_COLUMNS:  # a column the file lacks is empty
            row[column] = row.get(column) or ""

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """The model's rules, but for ``external_ref`` being unique: the instance loader found each
        row's member by it, and the file's own repeats are errors (``import_instance``), so
        Django's check, a query a row (3 s of an import of 10,000), would find nothing."""
        super().validate_instance(instance, import_validation_errors, validate_unique=False)

    def after_import(self, dataset, result, **kwargs):
        """Number the preview's rows as the file does: its first line names the columns, so its
        first member is on line 2 (a spreadsheet's row 2), where the library counts 1."""
        super().after_import(dataset, result, **kwargs)
        for row in (*result.invalid_rows, *result.error_rows):
            row.number += FIRST_ROW - 1

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        ref = row.get(IMPORT_ID)
        if not ref:
            raise ValidationError(
                {IMPORT_ID: "Needed to import: it is how a later import finds this member again."}
            )
        number = kwargs["row_number"] + FIRST_ROW - 1
        others = [str(each) for each in self.rows_of_ref.get(ref, ()) if each != number]
        if others:
            raise ValidationError({IMPORT_ID: (
                f"{ref} is also on row {', '.join(others)}: one row per member, or the last one would "
                "overwrite the others. Keep the right row, then import the file again."
            )})


def _cell(value) -> str:
    """An imported cell as text: stripped, a spreadsheet's number as written, nothing as ""."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


class AccountResource(resources.ModelResource):
    member_email = fields.Field(attribute="member__email", column_name="member_email")
    member_external_ref = fields.Field(attribute="member__external_ref", column_name="member_external_ref")
    connection_name = fields.Field(attribute="connection__name", column_name="connection")
    provider = fields.Field(attribute="connection__provider", column_name="provider")

    class Meta:
        model = Account
        fields = (
            "id",
            "member_email",
            "member_external_ref",
            "connection_name",
            "provider",
            "status",
            "external_id",
            "attention",
            "created_at",
            "updated_at",
        )
        export_order = fields

    def get_export_queryset(self, request=None):  # pragma: no cover - the admin passes its own
        return super().get_export_queryset(request).select_related("member", "connection")


class OperationResource(resources.ModelResource):
    account_email = fields.Field(attribute="account__member__email", column_name="account_email")
    connection_name = fields.Field(attribute="connection__name", column_name="connection")

    class Meta:
        model = Operation
        fields = (
            "id",
            "kind",
            "status",
            "account",
            "account_email",
            "connection_name",
            "batch",
            "requested_by",
            "attempts",
            "max_attempts",
            "error_code",
            "error_message",
            "created_at",
            "started_at",
            "finished_at",
        )
        export_order = fields


# what an export must never hold, whatever the columns above become (tests check it too)
SECRET_FIELDS = {"secrets", "secret_input", "challenge_image", "credentials", "input", "result", "error"}
for _resource in (MemberResource, AccountResource, OperationResource):
    assert not SECRET_FIELDS & set(_resource().fields), _resource
