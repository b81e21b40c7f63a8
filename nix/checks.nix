# checks.<system>: the runtime (its unit tests run in its build) and a bundle
# of the sharded fixture, resolved by the runtime's own resolve-model the way
# a Flox environment would (the bundle as $FLOX_ENV).
{
  runCommand,
  runtime,
  mkHfModelBundle,
}:
let
  repo = "acme/tiny-sharded";
  bundle = mkHfModelBundle {
    inherit repo;
    src = ./fixtures/tiny-sharded;
    patchTokenizer = true;
  };
in
{
  sglang-flox-runtime = runtime;

  bundle-resolves =
    runCommand "bundle-resolves"
      {
        inherit bundle;
        model = repo;
      }
      ''
        set -eu
        export HOME="$TMPDIR" FLOX_ENV="$bundle" SGLANG_MODEL="$model"
        export SGLANG_MODEL_ENV_FILE="$TMPDIR/model.env"
        ${runtime}/bin/sglang-resolve-model

        repo_dir="$bundle/share/models/hub/models--acme--tiny-sharded"
        snapshot="$repo_dir/snapshots/$(cat "$repo_dir/refs/main")"
        for line in "SGLANG_BUNDLED_FROM=$model" "HF_HUB_OFFLINE=1" "SGLANG_RESOLVED_MODEL=$snapshot"; do
          if ! grep -qxF "$line" "$SGLANG_MODEL_ENV_FILE"; then
            echo "bundle-resolves: expected the line $line in:" >&2
            cat "$SGLANG_MODEL_ENV_FILE" >&2
            exit 1
          fi
        done
        grep -qF '"tokenizer_class": "PreTrainedTokenizerFast"' "$snapshot/tokenizer_config.json"
        touch "$out"
      '';
}
