"""What the flow plays, as ARI media: the line's prompts (made by pbx/prompts.py, in the
directory Asterisk's global NACHTDIENST_PROMPTS names), numbers read out, times of day."""

from __future__ import annotations

from datetime import datetime

LANGUAGES = ("nl", "en")
DIRECTORY_VARIABLE = "NACHTDIENST_PROMPTS"


class Prompts:
    """Media URIs for prompt names, in a language. The directory is as Asterisk sees it."""

    def __init__(self, directory: str):
        self.directory = directory.rstrip("/")

    def __call__(self, name: str, language: str) -> str:
        if language not in LANGUAGES:
            raise ValueError(f"no prompts in language {language!r}")
        # Without an extension: Asterisk picks the file of a format it has (wav here).
        return f"sound:{self.directory}/{language}/{name}"

    def digits(self, number: str, language: str) -> list[str]:
        """A number read digit by digit ("+31 6…" → plus is left out: "3 1 6 …")."""
        return [self(f"number_{digit}", language) for digit in number if digit.isdigit()]

    def time_of_day(self, local: datetime, language: str) -> list[str]:
        """"14 uur 5" in Dutch, "14 0 5" in English (the clock as a caller reads it)."""
        hour, minute = local.hour, local.minute
        media = [self(f"number_{hour}", language)]
        if language == "nl":
            media.append(self("time_hour_word", language))
            if minute:
                media.append(self(f"number_{minute}", language))
        elif minute:
            if minute < 10:
                media.append(self("number_0", language))
            media.append(self(f"number_{minute}", language))
        return media
