"""The two ways a launch is refused; the CLI maps them to exit codes 2 and 3."""


class ConfigError(Exception):
    """The user's configuration is wrong: names the setting, its value and what was expected."""

    def __init__(self, setting: str, value: object, expected: str):
        self.setting = setting
        self.value = value
        self.expected = expected
        super().__init__(f"{setting}={value!r}: expected {expected}")


class PreflightError(Exception):
    """The configuration is valid but the host cannot run it (port taken, interpreter missing, ...)."""
