"""The two ways a launch is refused; the CLI maps them to exit codes 2 and 3."""


class ConfigError(Exception):
    """The user's configuration is wrong: names the setting, its value and what was expected."""

    def __init__(self, setting: str, value: object, expected: str):
        self.setting = setting
        self.value = value
        self.expected = expected
        super().__init__(f"{setting}={shown(value)}: expected {expected}")


LIMIT = 200


def shown(value: object) -> str:
    """A value as a message quotes it: repr'd (so a newline cannot split the line), and cut short."""
    text = repr(value)
    if len(text) <= LIMIT:
        return text
    length = f"{len(value)} characters" if isinstance(value, str) else "long"
    return f"{text[:LIMIT]}... ({length})"


class PreflightError(Exception):
    """The configuration is valid but the host cannot run it (port taken, interpreter missing, ...)."""
