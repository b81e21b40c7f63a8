"""Running the repository's Nix code with Debian's nix-bin and a stand-in for nixpkgs.

nixpkgs cannot be fetched here, so the tests hand the Nix files a STAND-IN
package set made of `builtins.derivation` with a /bin/sh builder: runCommand,
a fetchurl that reads Hub URLs from a local mirror directory (still a real
fixed-output derivation, so a wrong hash fails the build), python3 = the host's
/usr/bin/python3, and a runtime package whose console scripts (read from
runtime/pyproject.toml, as buildPythonApplication does) run in the test's own
interpreter. Everything else is real: Nix evaluates the same .nix files, builds
real store paths, and the runtime's real resolve-model reads them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HUB_PREFIX = "https://huggingface.co/"

# Debian's nix-bin as root: no sandbox; builds run as root rather than as a
# nixbld user, who could not reach the test interpreter (pyenv lives under
# /root); and no binary cache to ask (no network: an empty list saves the retries).
NIX_CONFIG = "sandbox = false\nbuild-users-group =\nexperimental-features = nix-command flakes\nsubstituters =\n"

STANDIN_PKGS = r"""
{ repo, mirror, python }:
let
  system = builtins.currentSystem;

  # Stand-in for nixpkgs' runCommand: same signature, /bin/sh builder.
  runCommand =
    name: env: script:
    builtins.derivation (
      env
      // {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" script ];
        PATH = "/bin:/usr/bin";
      }
    );

  # Stand-in for nixpkgs' fetchurl: a fixed-output derivation that copies the
  # file from the local mirror instead of downloading it.
  fetchurl =
    { url, hash, name }:
    builtins.derivation {
      inherit name system;
      builder = "/bin/sh";
      PATH = "/bin:/usr/bin";
      source = mirror + "/" + builtins.substring (builtins.stringLength "HUB_PREFIX") (-1) url;
      args = [ "-c" "cp \"$source\" \"$out\"" ];
      outputHash = hash;
      outputHashAlgo = "sha256";
      outputHashMode = "flat";
    };

  # Stand-in for nixpkgs' python3: the host interpreter, and withPackages
  # returning the package names it was asked for.
  python3 = {
    outPath = "/usr";
    withPackages = f: {
      pythonPackages = f (builtins.listToAttrs (map (n: { name = n; value = n; }) pythonPackageNames));
    };
  };
  pythonPackageNames = [ "click" "huggingface-hub" "jsonschema" "pytest" "tokenizers" ];

  scripts = (builtins.fromTOML (builtins.readFile (repo + "/runtime/pyproject.toml"))).project.scripts;

  # Stand-in for buildPythonApplication: one wrapper per console script.
  runtime = runCommand "sglang-flox-runtime-standin" {
    wrappers = builtins.concatStringsSep "\n" (
      builtins.attrValues (
        builtins.mapAttrs (
          name: entry:
          let
            parts = builtins.match "([^:]+):(.+)" entry;
          in
          "${name} ${builtins.elemAt parts 0} ${builtins.elemAt parts 1}"
        ) scripts
      )
    );
    inherit python;
  } ''
    mkdir -p "$out/bin"
    echo "$wrappers" | while read -r name module function; do
      printf '#!/bin/sh\nexec %s -c "import sys; from %s import %s; sys.exit(%s())" "$@"\n' \
        "$python" "$module" "$function" "$function" > "$out/bin/$name"
      chmod +x "$out/bin/$name"
    done
  '';

  pkgs = {
    inherit runCommand fetchurl python3 system;
    callPackage = _file: _args: runtime;
    mkShell = attrs: attrs;
    nixfmt = "nixfmt-standin";
    nixfmt-tree = "nixfmt-tree-standin";
    ruff = "ruff-standin";
    kubectl = "kubectl-standin";
  };

  # Stand-in for the nixpkgs flake input: just what flake.nix reaches for.
  nixpkgs = {
    lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    legacyPackages = {
      x86_64-linux = pkgs;
      aarch64-linux = pkgs;
    };
  };

  flake = import (repo + "/flake.nix");
  outputs = flake.outputs {
    self = outputs;
    inherit nixpkgs;
  };
in
{
  inherit runtime outputs;
  mkHfModelBundle = import (repo + "/nix/mk-hf-model-bundle.nix") { inherit runCommand fetchurl python3; };
}
""".replace("HUB_PREFIX", HUB_PREFIX)


def nix_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NIX_CONFIG"] = NIX_CONFIG
    return env


def write_standin(tmp: Path, mirror: Path) -> Path:
    path = tmp / "standin.nix"
    path.write_text(STANDIN_PKGS, encoding="utf-8")
    return path


def standin_args(mirror: Path) -> list[str]:
    return [
        "--arg", "repo", str(REPO),
        "--argstr", "mirror", str(mirror),
        "--argstr", "python", sys.executable,
    ]


def nix_build(standin: Path, mirror: Path, expr: str) -> subprocess.CompletedProcess:
    """nix-build `expr`, in which `s` is the stand-in set; returns the finished process."""
    wrapper = f"{{ repo, mirror, python }}@args: let s = import {standin} args; in {expr}"
    wrapper_file = standin.parent / f"build-{hashlib.sha256(expr.encode()).hexdigest()[:12]}.nix"
    wrapper_file.write_text(wrapper, encoding="utf-8")
    return subprocess.run(
        ["nix-build", "--no-out-link", str(wrapper_file), *standin_args(mirror)],
        env=nix_env(), capture_output=True, text=True, timeout=300,
    )


def nix_eval_json(standin: Path, mirror: Path, expr: str):
    wrapper = f"{{ repo, mirror, python }}@args: let s = import {standin} args; in {expr}"
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", wrapper, *standin_args(mirror)],
        env=nix_env(), capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return json.loads(out.stdout)


def sri_sha256(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def nix_string(value: str) -> str:
    """A Nix string literal (JSON's escapes are a subset Nix reads the same; `${` is escaped)."""
    return json.dumps(value).replace("${", "\\${")
