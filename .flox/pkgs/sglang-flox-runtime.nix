# Flox's build recipe for the launcher that .flox/env/manifest.toml installs as
# `sglang-runtime` (pkg-path "<catalog>/sglang-flox-runtime"). Flox names a
# .flox/pkgs build after its file, so this file's name IS the package name:
#
#   flox build sglang-flox-runtime      # -> ./result-sglang-flox-runtime
#   flox publish sglang-flox-runtime    # -> <catalog>/sglang-flox-runtime
#
# Flox evaluates the git-tracked tree and calls this file with `callPackage`
# from its base nixpkgs. The package itself (pname, version from
# runtime/pyproject.toml, the three console scripts, the unit tests run in the
# build) is nix/runtime.nix, the one the flake builds too.
{ callPackage }:
callPackage ../../nix/runtime.nix { }
