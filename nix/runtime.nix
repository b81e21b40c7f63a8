# The runtime (runtime/pyproject.toml) as a Nix package, with its unit tests
# run in the build.
{
  lib,
  python3Packages,
}:
let
  project = (builtins.fromTOML (builtins.readFile ../runtime/pyproject.toml)).project;

  # Test files that need neither network, GPU nor a tool the build sandbox
  # lacks (nix, kubectl, flox, SGLang wheels); the rest run in `bash scripts/test.sh`.
  unitTests = builtins.filter (p: builtins.pathExists (../. + "/${p}")) [
    "tests/test_settings.py"
    "tests/test_envfile.py"
    "tests/test_argv.py"
    "tests/test_hub.py"
    "tests/test_shim.py"
    "tests/test_errors.py"
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
    ];
  };
  sourceRoot = "source/runtime";

  build-system = [ python3Packages.setuptools ];

  dependencies = with python3Packages; [
    click
    huggingface-hub
  ];

  nativeCheckInputs = with python3Packages; [
    pytestCheckHook
    tokenizers
  ];

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
