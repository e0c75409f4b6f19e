# The Rust workspace built with crane: the dependencies once
# (buildDepsOnly), then each package reusing those artifacts; and the
# checks CI would run (clippy, tests, fmt) on the same artifacts.
{ pkgs, craneLib, root }:
let
  inherit (pkgs) lib;

  # crane's default filter keeps Rust and Cargo files only; the build also
  # reads the .proto files (build scripts, the demo), the model and its
  # vectors (include_bytes!), the training corpus, and the scenarios the
  # demo embeds and the tests load.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources root)
      (lib.fileset.fileFilter (file: file.hasExt "proto") (root + "/proto"))
      (root + "/servers/model")
      (root + "/servers/data")
      (root + "/scenarios")
    ];
  };

  commonArgs = {
    inherit src;
    pname = "volley-workspace";
    version = "0.1.0";
    strictDeps = true;
    # .proto files are compiled by protox, in Rust: no protoc needed.
  };

  # Dependencies only, with dummy sources: build.rs code generation runs in
  # the package builds below.
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  package =
    pname: cargoExtraArgs: mainProgram:
    craneLib.buildPackage (
      commonArgs
      // {
        inherit pname cargoArtifacts cargoExtraArgs;
        # The tests run once, in checks.tests.
        doCheck = false;
        meta.mainProgram = mainProgram;
      }
    );

  volley = package "volley" "-p volley --bin volley" "volley";
  predict-servers =
    package "predict-servers" "-p volley-predict --bin predict-rest --bin predict-grpc"
      "predict-rest";
in
{
  inherit volley predict-servers;

  checks = {
    inherit volley predict-servers;
    clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoClippyExtraArgs = "--workspace --all-targets -- -D warnings";
      }
    );
    tests = craneLib.cargoTest (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoTestExtraArgs = "--workspace";
      }
    );
    fmt = craneLib.cargoFmt { inherit src; };
  };
}
