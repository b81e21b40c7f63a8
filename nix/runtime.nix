# The runtime (runtime/pyproject.toml) as a Nix package, with its unit tests
# run in the build.
{
  lib,
  python3Packages,
}:
let
  project = (builtins.fromTOML (builtins.readFile ../runtime/pyproject.toml)).project;

  nixpkgsName =
    requirement:
    builtins.replaceStrings [ "_" "." ] [ "-" "-" ] (
      lib.toLower (builtins.head (builtins.match "([A-Za-z0-9._-]+).*" requirement))
    );

  # Test files that need neither network, GPU nor a tool the build sandbox
  # lacks (nix, kubectl, flox, SGLang wheels), and that do not run the console
  # scripts from the interpreter's bin/ (conftest.run_cli, used by test_cli
  # and test_shim): the rest run in `bash scripts/test.sh`.
  unitTests = builtins.filter (p: builtins.pathExists (../. + "/${p}")) [
    "tests/test_argv.py"
    "tests/test_envfile.py"
    "tests/test_fit.py"
    "tests/test_health.py"
    "tests/test_hub.py"
    "tests/test_query.py"
    "tests/test_settings.py"
    "tests/test_tp.py"
  ];
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../runtime
      ../tests
      # test_settings compares docs/settings.md's table with the code, and
      # test_argv finds docs/releases.md's refusals.
      (lib.fileset.maybeMissing ../docs)
    ];
  };
  sourceRoot = "source/runtime";
  # unpackPhase makes only sourceRoot writable; the tests beside it write
  # pytest's cache and may make fixtures next to themselves.
  postUnpack = ''
    chmod -R u+w source
  '';

  build-system = [ python3Packages.setuptools ];

  # pyproject's requirements by their nixpkgs names (PyPI names normalised),
  # so the two lists cannot drift apart.
  dependencies = map (r: python3Packages.${nixpkgsName r}) project.dependencies;
  # nixpkgs' versions are the pinned, consistent set; the unit tests run in
  # this build decide whether they are new enough, not pyproject's bounds.
  pythonRelaxDeps = true;

  nativeCheckInputs = [ python3Packages.pytestCheckHook ];

  # The tests live beside runtime/, not inside it; running from the top also
  # keeps the source tree's package from shadowing the installed one.
  preCheck = ''
    cd ..
  '';
  enabledTestPaths = unitTests;
  doCheck = unitTests != [ ];

  pythonImportsCheck = [ "sglang_runtime" ];

  meta = {
    inherit (project) description;
    license = lib.licenses.asl20;
    mainProgram = "sglang-runtime";
    platforms = lib.platforms.linux;
  };
}
