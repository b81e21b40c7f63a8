# A model in Hugging Face cache layout, as `sglang-resolve-model` reads it:
#   $out/share/models/hub/models--<org>--<name>/refs/main  (the snapshot id)
#   $out/share/models/hub/models--<org>--<name>/snapshots/<id>/<files>
#
# The primitives come from the caller (nixpkgs in the flake, a stand-in set in
# the tests), so the same code is what gets tested without nixpkgs.
{
  runCommand,
  fetchurl,
  python3,
}:
{
  # "org/name", the id SGLANG_MODEL names.
  repo,
  # The Hub commit the files are pinned to; for a local directory, optional
  # (the default is derived from the directory's content).
  revision ? null,
  # Hub form: [ { name = "config.json"; hash = "sha256-..."; } ... ], one
  # fixed-output fetch per file, so the bundle is pinned byte for byte.
  files ? null,
  # Local form: a directory holding the model's files (private or fine-tuned).
  src ? null,
  # Translate a transformers-5 checkpoint for transformers 4.x at build time with
  # the runtime's own rules (sglang_runtime/model/compat.py: config.json RoPE fields,
  # tokenizer_config.json); one it cannot express fails the build in one line.
  patchTokenizer ? false,
}:
let
  safeName = "[A-Za-z0-9][A-Za-z0-9._-]*";
  repoParts = builtins.match "(${safeName})/(${safeName})" repo;
  org = builtins.elemAt repoParts 0;
  model = builtins.elemAt repoParts 1;

  fromHub = files != null;

  # A path is copied into the store under a fixed name, so the directory's
  # own name or location never changes the bundle's hash.
  localDir =
    if builtins.isAttrs src then
      src
    else
      builtins.path {
        path = src;
        name = "${org}--${model}-source";
      };

  snapshotId = if revision != null then revision else builtins.hashString "sha1" "${localDir}";

  checkFile =
    f:
    if
      builtins.match "(${safeName}/)*${safeName}" f.name == null
      || builtins.match "(.*/)?\\.\\.(/.*)?" f.name != null
    then
      throw "mkHfModelBundle: ${repo}: file name ${builtins.toJSON f.name}: expected a relative path of letters, digits, '.', '_', '-'"
    else
      f;

  fetchFile = f: {
    inherit (f) name;
    path = fetchurl {
      url = "https://huggingface.co/${repo}/resolve/${snapshotId}/${f.name}";
      inherit (f) hash;
      name = "${org}--${model}-${builtins.baseNameOf f.name}";
    };
  };

  # The package's __init__ and the translation (standard library only), not the
  # whole runtime: an unrelated runtime change must not rebuild every
  # patched bundle.
  shimFiles = map (f: "${toString ../runtime}/${f}") [
    "sglang_runtime"
    "sglang_runtime/__init__.py"
    "sglang_runtime/model"
    "sglang_runtime/model/__init__.py"
    "sglang_runtime/model/compat.py"
    "sglang_runtime/model/compat_rules.py"
  ];
  shimSrc = builtins.path {
    path = ../runtime;
    name = "sglang-runtime-shim-source";
    filter = path: _type: builtins.elem (toString path) shimFiles;
  };

  source =
    if fromHub then { files = map fetchFile (map checkFile files); } else { dir = "${localDir}"; };
  shim = if patchTokenizer then { shimSrc = "${shimSrc}"; } else { };
  spec = {
    inherit repo;
    revision = snapshotId;
  }
  // source
  // shim;
in
if repoParts == null then
  throw "mkHfModelBundle: repo ${builtins.toJSON repo}: expected \"org/name\""
else if (files == null) == (src == null) then
  throw "mkHfModelBundle: ${repo}: expected exactly one of files (Hub form) or src (local form)"
else if fromHub && revision == null then
  throw "mkHfModelBundle: ${repo}: revision: expected the Hub commit the files are pinned to"
else if builtins.match safeName snapshotId == null then
  throw "mkHfModelBundle: ${repo}: revision ${builtins.toJSON snapshotId}: expected letters, digits, '.', '_', '-'"
else
  runCommand "hf-model-${org}--${model}"
    {
      # The whole request as one JSON value: the builder reads it with Python,
      # so no user value is ever parsed by a shell.
      bundleSpec = builtins.toJSON spec;
    }
    ''
      ${python3}/bin/python3 ${./bundle.py}
    ''
