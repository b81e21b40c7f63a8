"""Running the repository's Nix code with Debian's nix-bin and a stand-in for nixpkgs.

nixpkgs cannot be fetched here, so the tests hand the Nix files a STAND-IN
package set made of `builtins.derivation` with a /bin/sh builder: runCommand,
a fetchurl that reads Hub URLs from a local mirror directory (still a real
fixed-output derivation, so a wrong hash fails the build), python3 = the host's
/usr/bin/python3, the few `lib` functions nix/runtime.nix uses (lib.fileset
copies just the named files into the store), and a buildPythonApplication that
pip-installs the package's real source into the store path with the test's own
interpreter (no dependencies fetched, no tests run in the build: the venv has
the dependencies) and points each console script at that store path's
site-packages, as nixpkgs' wrappers do. `callPackage` really calls the file it
is given with the attributes it asks for. Everything else is real: Nix
evaluates the same .nix files (flake.nix, nix/runtime.nix, the Flox recipe
under .flox/pkgs), builds real store paths, and the runtime's real console
scripts run from them.
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

  project = (builtins.fromTOML (builtins.readFile (repo + "/runtime/pyproject.toml"))).project;

  hasPrefix = pre: s: builtins.substring 0 (builtins.stringLength pre) s == pre;
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];

  # Stand-in for the part of nixpkgs' lib that nix/runtime.nix uses.
  lib = {
    toLower = builtins.replaceStrings upper lower;
    licenses.asl20 = "asl20-standin";
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    fileset = {
      unions = paths: paths;
      maybeMissing = path: if builtins.pathExists path then path else null;
      # A real store copy of `root` holding only the named files and directories, as
      # lib.fileset.toSource makes; what git ignores here (byte code, egg-info) is left out
      # because a flake's or Flox's source is the git-tracked tree.
      toSource =
        { root, fileset }:
        let
          members = map toString (builtins.filter (p: p != null) fileset);
          wanted = p: builtins.any (m: p == m || hasPrefix (m + "/") p || hasPrefix (p + "/") m) members;
          ignored = p: builtins.elem (baseNameOf p) [ "__pycache__" ".pytest_cache" ]
            || builtins.match ".*\\.egg-info" (baseNameOf p) != null;
        in
        builtins.path {
          path = root;
          name = "source";
          filter = p: _type: wanted p && !ignored p;
        };
    };
  };

  # Stand-in for nixpkgs' python3Packages: the build system and every dependency of the
  # pyproject by its nixpkgs name (the venv provides them at run time), and a
  # buildPythonApplication that really installs the source it is given.
  nixpkgsName = r: lib.toLower (builtins.replaceStrings [ "_" "." ] [ "-" "-" ] (builtins.head (builtins.match "([A-Za-z0-9._-]+).*" r)));
  python3Packages = builtins.listToAttrs (map (r: { name = nixpkgsName r; value = "${nixpkgsName r}-standin"; }) project.dependencies) // {
    setuptools = "setuptools-standin";
    pytestCheckHook = "pytestCheckHook-standin";
    buildPythonApplication =
      args:
      runCommand "${args.pname}-${args.version}" {
        inherit (args) src sourceRoot;
        inherit python;
      } ''
        set -eu
        export HOME="$TMPDIR"
        cp -r "$src" "$TMPDIR/source" && chmod -R u+w "$TMPDIR/source" && cd "$TMPDIR/$sourceRoot"
        "$python" -m pip install --quiet --no-deps --no-build-isolation --no-index --ignore-installed \
          --no-compile --disable-pip-version-check --no-warn-script-location --prefix "$out" .
        site=$(echo "$out"/lib/python3*/site-packages)
        test -d "$site"
        for script in "$out"/bin/*; do
          sed -i "1a import sys; sys.path.insert(0, '$site')" "$script"
        done
      ''
      // { inherit (args) pname version meta; };
  };

  # nixpkgs' callPackage: call the file with the attributes it names, from this set.
  callPackage =
    fn: args:
    let
      f = if builtins.isFunction fn then fn else import fn;
    in
    f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);

  runtime = callPackage (repo + "/nix/runtime.nix") { };

  pkgs = {
    inherit runCommand fetchurl python3 system lib python3Packages callPackage;
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
  inherit runtime outputs callPackage;
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


# ---- Flox's Nix-expression builds (.flox/pkgs) -------------------------------------------

FLOX_PKGS = REPO / ".flox" / "pkgs"


def flox_expression_packages(pkgs_dir: Path = FLOX_PKGS) -> dict[str, Path]:
    """The packages `flox build` finds in .flox/pkgs, by Flox's naming rule (flox/flox,
    package-builder/nef/lib/dirToAttrs.nix): `<name>.nix` is package <name>, so is
    `<name>/default.nix`, and a directory without default.nix is a set `<name>.<entry>`."""
    found: dict[str, Path] = {}

    def walk(directory: Path, prefix: str) -> None:
        for entry in sorted(directory.iterdir()):
            if entry.is_dir():
                if (entry / "default.nix").is_file():
                    found[prefix + entry.name] = entry / "default.nix"
                else:
                    walk(entry, f"{prefix}{entry.name}.")
            elif entry.suffix == ".nix":
                found[prefix + entry.stem] = entry

    if pkgs_dir.is_dir():
        walk(pkgs_dir, "")
    return found


def build_flox_package(name: str, tmp: Path) -> str:
    """Build .flox/pkgs' package `name` as Flox does (callPackage on the file, from the package
    set: here the stand-in), with a GC root under `tmp`; returns the store path."""
    mirror = tmp / "mirror"
    mirror.mkdir(parents=True, exist_ok=True)
    standin = write_standin(tmp, mirror)
    done = nix_build(standin, mirror, f"s.callPackage {nix_string(str(flox_expression_packages()[name]))} {{ }}")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.strip()
    subprocess.run(["nix-store", "--add-root", str(tmp / f"{name}.gcroot"), "--indirect", "--realise", out],
                   env=nix_env(), capture_output=True, check=True)
    return out
