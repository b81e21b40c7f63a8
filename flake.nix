{
  description = "SGLang Flox runtime: the launcher package and model bundles in Hugging Face cache layout";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      runtimeFor = pkgs: pkgs.callPackage ./nix/runtime.nix { };

      app = program: description: {
        type = "app";
        inherit program;
        meta = { inherit description; };
      };
    in
    {
      # mkHfModelBundle pkgs { repo = "org/name"; revision = "<commit>"; files = [ ... ]; }
      # mkHfModelBundle pkgs { repo = "org/name"; src = ./my-model; patchTokenizer = true; }
      lib.mkHfModelBundle =
        pkgs:
        import ./nix/mk-hf-model-bundle.nix {
          inherit (pkgs) runCommand fetchurl python3;
        };

      packages = forAllSystems (
        pkgs:
        let
          runtime = runtimeFor pkgs;
        in
        {
          sglang-flox-runtime = runtime;
          default = runtime;
        }
      );

      apps = forAllSystems (
        pkgs:
        let
          runtime = runtimeFor pkgs;
        in
        {
          serve = app "${runtime}/bin/sglang-serve" "Validate the settings and exec SGLang";
          resolve-model = app "${runtime}/bin/sglang-resolve-model" "Find SGLANG_MODEL in the bundled or cached models and write the env file";
          default = app "${runtime}/bin/sglang-runtime" "The sglang-runtime command group";
        }
      );

      checks = forAllSystems (
        pkgs:
        import ./nix/checks.nix {
          inherit (pkgs) runCommand;
          runtime = runtimeFor pkgs;
          mkHfModelBundle = self.lib.mkHfModelBundle pkgs;
        }
      );

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            (pkgs.python3.withPackages (
              ps: with ps; [
                click
                huggingface-hub
                jsonschema
                pytest
                tokenizers
              ]
            ))
            pkgs.kubectl
            pkgs.nixfmt
            pkgs.ruff
          ];
        };
      });

      # nixfmt over every .nix file of the tree (plain nixfmt wants file names).
      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);
    };
}
