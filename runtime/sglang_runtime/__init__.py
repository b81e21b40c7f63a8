"""Turn environment settings into a validated, version-correct SGLang launch."""

# The version has one source, runtime/pyproject.toml: Nix reads it from there (nix/runtime.nix)
# and Python from the installed metadata, looked up only when asked (not on the serve path).
DISTRIBUTION = "sglang-flox-runtime"


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version(DISTRIBUTION)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
