"""Forms of the suppression pages: the list's filters, the addresses to add or remove, and the lookup.

Addresses are checked here with the services' own rule (`address_problem`), so a person sees every bad
address in words before anything reaches Postmark; the services check again.
"""

from django import forms

from streams.services_suppressions import (
    MOST_ADDRESSES,
    SuppressionFilters,
    address_problem,
    parse_addresses,
)

REASON_CHOICES = [("all", "All reasons"), ("HardBounce", "Hard bounces"), ("SpamComplaint", "Spam complaints"),
                  ("ManualSuppression", "Unsubscribes and manual")]
ORIGIN_CHOICES = [("all", "Anyone"), ("Recipient", "The recipient"), ("Customer", "Your team"),
                  ("Admin", "Postmark's staff")]


class SuppressionFilterForm(forms.Form):
    """The filters that live in the URL; the address search never does (see `SuppressionSearchForm`)."""

    reason = forms.ChoiceField(label="Reason", choices=REASON_CHOICES, required=False)
    origin = forms.ChoiceField(label="Made by", choices=ORIGIN_CHOICES, required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "“To” must be on or after “From”.")
        return data

    def filters(self, search: str) -> SuppressionFilters:
        """The filters asked for; a field with a mistake counts as not chosen (its error is shown)."""
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        return SuppressionFilters(reason=data.get("reason") or "all", origin=data.get("origin") or "all",
                                  since=data.get("since"), until=data.get("until"), search=search)


class SuppressionSearchForm(forms.Form):
    """Part of an address, sent by POST and kept in the session: never in an address bar, a link or a log."""

    search = forms.CharField(label="Search by address", max_length=254, required=False, strip=True,
                             widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off",
                                                           "spellcheck": "false", "placeholder": "Part of an address"}))


class AddressesForm(forms.Form):
    addresses = forms.CharField(
        label="E-mail addresses", max_length=MOST_ADDRESSES * 260,
        help_text=f"One per line, or separated by commas. Up to {MOST_ADDRESSES} at once; they are sent to Postmark "
                  "50 at a time.",
        widget=forms.Textarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false",
                                     "autocapitalize": "off"}),
    )

    def clean_addresses(self) -> list[str]:
        parsed = parse_addresses(self.cleaned_data["addresses"])
        problems = [f"“{typed}” {why}" for typed, why in parsed.invalid]
        if len(parsed.valid) > MOST_ADDRESSES:
            problems.insert(0, f"That is {len(parsed.valid)} addresses; at most {MOST_ADDRESSES} can be sent at "
                               "once. Split the list.")
        if not parsed.valid and not problems:
            problems.append("Give at least one e-mail address.")
        if problems:
            raise forms.ValidationError(problems)
        self.duplicates = parsed.duplicates
        return parsed.valid


class SelectedAddressesForm(forms.Form):
    """The addresses ticked in the list (checkboxes named `email`)."""

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.emails = [email.strip() for email in (data.getlist("email") if data is not None else []) if email.strip()]

    def clean(self):
        if not self.emails:
            raise forms.ValidationError("Tick at least one address to remove.")
        if len(self.emails) > MOST_ADDRESSES:
            raise forms.ValidationError(f"At most {MOST_ADDRESSES} addresses can be removed at once.")
        problems = [f"“{email[:80]}” {address_problem(email)}" for email in self.emails if address_problem(email)]
        if problems:
            raise forms.ValidationError(problems)
        return {}


class LookupForm(forms.Form):
    email = forms.CharField(label="E-mail address", max_length=254, strip=True,
                            widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                           "autocapitalize": "off"}))

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        problem = address_problem(email)
        if problem:
            raise forms.ValidationError(f"“{email[:80]}” {problem}")
        return email
