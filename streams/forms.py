"""Forms of the stream pages. Field names match `streams.services.REFUSALS`, so a refusal lands on its field.

The create and edit forms check every rule of `streams.rules` (Postmark's rules, in Postmark's refusal
words) before Postmark is asked; Postmark still has the last word, and its refusals land on the same fields.
"""

from dataclasses import dataclass

from django import forms

from dashboard.models import Server
from dashboard.postmark.client import UnsubscribeHandling
from dashboard.services.servers import name_looks_like_token
from streams import rules
from streams.services import stream_handling_choices


class ArchiveForm(forms.Form):
    confirmation = forms.CharField(
        label="Type the stream's ID to confirm", max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}),
    )


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    explanation: str


STREAM_TYPES = (
    Choice("Transactional", "Transactional", "One-to-one e-mail that something a person does triggers, such as "
                                             "receipts, password resets and sign-in links."),
    Choice("Broadcasts", "Broadcasts", "Bulk e-mail to many people at once, such as newsletters and announcements, "
                                       "with an unsubscribe link in every message."),
)
HANDLINGS = (
    Choice("Postmark", "Postmark", "Postmark adds an unsubscribe link to each message and stops sending to people "
                                   "who used it. The usual choice."),
    Choice("Custom", "Custom", "You add and handle your own unsubscribe links. Postmark support must turn this on "
                               "for your account first."),
)
NO_HANDLING = {
    "Transactional": "None — transactional streams don't have unsubscribe handling.",
    "Inbound": "None — inbound streams don't have unsubscribe handling.",
}
# The same words as the service's own check (`streams.services._refuse_tokens`).
TOKEN_IN_FIELD = ("That looks like a Postmark server token. A token never belongs in a stream's details: remove it "
                  "and try again.")
FIXED_ID_AND_TYPE = ("Postmark never changes a stream's ID or type after it is created. To use another, create a "
                     "new stream.")


def _handlings_of(stream_type: str) -> list[Choice]:
    allowed = {handling.value for handling in stream_handling_choices(stream_type)}
    return [choice for choice in HANDLINGS if choice.value in allowed]


def _options(field: forms.BoundField, choices, *, disabled: bool = False) -> list[dict]:
    """Radio buttons written out in the template, each with its plain-words explanation."""
    value = str(field.value() or "").lower()
    return [{"value": choice.value, "label": choice.label, "explanation": choice.explanation,
             "checked": value == choice.value.lower(), "id": f"{field.auto_id}_{index}", "disabled": disabled}
            for index, choice in enumerate(choices)]


def _handling_value(value: str) -> str:
    """Postmark's spelling ("postmark" -> "Postmark"); anything unknown is kept for the rules to refuse."""
    try:
        return UnsubscribeHandling((value or "").strip()).value
    except ValueError:
        return value


class _StreamFieldsForm(forms.Form):
    """Name and description, the same on both forms, with the same rules."""

    name = forms.CharField(
        label="Name", required=False,
        help_text="What your team calls it, such as “Billing news”. Up to 100 characters; you can change it later.",
        widget=forms.TextInput(attrs={"autocomplete": "off",
                                      "aria-describedby": "id_name_helptext id_name_feedback"}),
    )
    description = forms.CharField(
        label="Description (optional)", required=False,
        help_text="What the stream is for, so the rest of your team knows. Up to 1000 characters, without “<” or “>”.",
        widget=forms.Textarea(attrs={"rows": 3, "aria-describedby": "id_description_helptext id_description_feedback"}),
    )

    def clean_name(self) -> str:
        return self._checked("name", rules.name_problem)

    def clean_description(self) -> str:
        return self._checked("description", rules.description_problem)

    def _checked(self, field: str, problem_of) -> str:
        value = self.cleaned_data.get(field) or ""
        if name_looks_like_token(value):
            # A token pasted into the wrong field must not be rendered back into the page either.
            self.data = self.data.copy()
            self.data[self.add_prefix(field)] = ""
            raise forms.ValidationError(TOKEN_IN_FIELD)
        problem = problem_of(value)
        if problem:
            raise forms.ValidationError(problem)
        return value


class StreamCreateForm(_StreamFieldsForm):
    """A new stream. `taken_ids` (archived included) and `slots_used` are None when Postmark can't be asked."""

    field_order = ["stream_id", "name", "description", "stream_type", "unsubscribe_handling"]
    stream_id = forms.CharField(
        label="ID", required=False,
        help_text="Used by developers to send on this stream. Lowercase letters, digits, - and _; starts with a "
                  "letter; up to 30. It can't be changed later.",
        widget=forms.TextInput(attrs={
            "autocomplete": "off", "autocapitalize": "none", "spellcheck": "false", "class": "mono",
            "aria-describedby": "id_stream_id_helptext id_stream_id_suggestion id_stream_id_feedback",
        }),
    )
    stream_type = forms.CharField(label="Type", required=False,
                                  help_text="What kind of e-mail goes through it. It can't be changed later.")
    unsubscribe_handling = forms.CharField(
        label="Unsubscribe handling", required=False,
        help_text="What happens when someone wants no more e-mail from a Broadcasts stream. You can change it later.",
    )
    # The fields the person has typed in or chosen (kept by app.js), so the check as they type speaks only of those.
    touched = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, server: Server, taken_ids: list[str] | None = None, slots_used: int | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.server = server
        self.taken_ids = taken_ids
        self.slots_used = slots_used

    # What the template writes out.

    def type_options(self) -> list[dict]:
        return _options(self["stream_type"], STREAM_TYPES)

    def handling_options(self) -> list[dict]:
        return _options(self["unsubscribe_handling"], _handlings_of("Broadcasts"))

    def no_handling(self) -> str:
        return NO_HANDLING["Transactional"]

    # Checks.

    def clean_stream_id(self) -> str:
        return self._checked("stream_id", lambda value: rules.stream_id_problem(value, taken=self.taken_ids))

    def clean_stream_type(self) -> str:
        value = self.cleaned_data.get("stream_type") or ""
        problem = rules.stream_type_problem(value)
        if problem:
            raise forms.ValidationError(problem)
        return rules.new_stream_type(value)

    def clean(self) -> dict:
        cleaned = super().clean()
        stream_type = cleaned.get("stream_type")
        handling = _handling_value(cleaned.get("unsubscribe_handling") or "")
        problem = rules.handling_problem(handling, stream_type)
        if problem:
            self.add_error("unsubscribe_handling", problem)
        elif stream_type:
            cleaned["unsubscribe_handling"] = handling or rules.default_handling(stream_type)
        problem = rules.slots_problem(self.slots_used, self.server.stream_limit)
        if problem:
            self.add_error(None, problem)
        return cleaned

    @property
    def touched_fields(self) -> set[str]:
        return set((self.data.get("touched") or "").split()) & set(self.fields)

    def has_value(self, field: str) -> bool:
        return bool((self.data.get(field) or "").strip())

    def feedback(self) -> list[dict]:
        """Each field's errors as the person types: only for fields they have touched or filled in."""
        shown = self.touched_fields
        errors = self.errors
        return [{"id": self[name].auto_id,
                 "errors": errors.get(name, []) if name in shown or self.has_value(name) else []}
                for name in ("stream_id", "name", "description", "stream_type", "unsubscribe_handling")]


class StreamEditForm(_StreamFieldsForm):
    """Name, description and unsubscribe handling; `seen` is the signed note of what the form showed.

    `stream_type` is the stream's type as the form showed it: it chooses the handling offered and checks it;
    Postmark, which never changes a stream's type, still has the last word.
    """

    unsubscribe_handling = forms.CharField(label="Unsubscribe handling", required=False)
    seen = forms.CharField(required=False, widget=forms.HiddenInput)
    stream_type = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, stream_type: str, **kwargs):
        super().__init__(*args, **kwargs)
        known = {"transactional": "Transactional", "broadcasts": "Broadcasts", "inbound": "Inbound"}
        self.stream_type = known.get(str(stream_type or "").strip().lower(), "")
        self.fields["stream_type"].initial = self.stream_type
        if self.offers_handling:
            self.fields["unsubscribe_handling"].help_text = ("What happens when someone wants no more e-mail from "
                                                             "this stream.")

    @property
    def offers_handling(self) -> bool:
        """Whether there is a handling to choose (Postmark's rule: only Broadcasts streams have one)."""
        return bool(_handlings_of(self.stream_type))

    def handling_options(self) -> list[dict]:
        return _options(self["unsubscribe_handling"], _handlings_of(self.stream_type))

    def no_handling(self) -> str:
        return NO_HANDLING.get(self.stream_type, "None — only Broadcasts streams have unsubscribe handling.")

    def clean_stream_type(self) -> str:
        return self.stream_type

    def clean(self) -> dict:
        cleaned = super().clean()
        handling = _handling_value(cleaned.get("unsubscribe_handling") or "")
        if self.offers_handling and not handling:
            self.add_error("unsubscribe_handling", rules.handling_problem("None", "Broadcasts"))
            return cleaned
        problem = rules.handling_problem(handling, self.stream_type)
        if problem:
            self.add_error("unsubscribe_handling", problem)
        else:
            cleaned["unsubscribe_handling"] = handling or "None"
        return cleaned
