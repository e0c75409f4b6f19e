# The Rust workspace built with crane: the dependencies once
# (buildDepsOnly), then each package reusing those artifacts; and the
# checks CI would run (clippy, tests, fmt) on the same artifacts: the same
# commands and flags as .ci/run's, so that either one failing means the same.
{ pkgs, craneLib, root, rev }:
let
  inherit (pkgs) lib;

  # crane's filter keeps Cargo's own files (*.rs, Cargo.toml, Cargo.lock);
  # the build and the tests read more, listed in nix/source.list (one path
  # a line, or DIR/*.EXT), which .ci/run also reads: it fails when the
  # tests open a file of the tree outside this source.
  listed = builtins.filter (
    line: builtins.isString line && line != "" && builtins.substring 0 1 line != "#"
  ) (builtins.split "\n" (builtins.readFile ./source.list));
  entry =
    line:
    let
      byExt = builtins.match "(.*)/\\*\\.([A-Za-z0-9]+)" line;
    in
    if byExt == null then
      root + "/${line}"
    else
      lib.fileset.fileFilter (file: file.hasExt (builtins.elemAt byExt 1)) (
        root + "/${builtins.elemAt byExt 0}"
      );
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions ([ (craneLib.fileset.commonCargoSources root) ] ++ map entry listed);
  };

  commonArgs = {
    inherit src;
    pname = "volley-workspace";
    version = "0.1.0";
    strictDeps = true;
    # .proto files are compiled by protox, in Rust: no protoc needed.
    # Cargo.lock as committed, never re-resolved: crane's default, said
    # here because any cargoExtraArgs replaces the default, and every
    # build below adds its own arguments to this.
    cargoExtraArgs = "--locked";
  };

  # Dependencies only, with dummy sources: build.rs code generation runs in
  # the package builds below. --workspace: every member's dependencies and
  # dev-dependencies (the servers' too), so that clippy and the tests, which
  # run on the whole workspace, compile none of them again.
  cargoArtifacts = craneLib.buildDepsOnly (
    commonArgs // { cargoExtraArgs = "${commonArgs.cargoExtraArgs} --workspace"; }
  );

  package =
    pname: targets: mainProgram: extra:
    craneLib.buildPackage (
      commonArgs
      // {
        inherit pname cargoArtifacts;
        cargoExtraArgs = "${commonArgs.cargoExtraArgs} ${targets}";
        # The tests run once, in checks.tests.
        doCheck = false;
        meta.mainProgram = mainProgram;

        # Stripped binaries for the images. The release profile keeps line
        # tables (Cargo.toml: debug = "line-tables-only") for backtraces in
        # local builds, which makes volley about 100 MB; stdenv's fixup
        # strips debug sections from bin/ (strip -S: about 24 MB, README:
        # Nix) and keeps the symbol table, so a panic's backtrace in a pod
        # still names its functions. Set here rather than left to stdenv's
        # default, and checked below, because nothing else would notice
        # images growing fourfold.
        dontStrip = false;
        stripDebugList = [ "bin" ];
        doInstallCheck = true;
        # Runs after the fixup (and its strip).
        installCheckPhase = ''
          runHook preInstallCheck
          for f in "$out"/bin/*; do
            # Captured, not piped into grep -q: under pipefail an early
            # exit of grep could fail readelf and hide the match.
            sections=$(''${READELF:-readelf} --section-headers --wide "$f")
            if [[ $sections == *.debug_info* ]]; then
              echo "$f still has debug sections after stripping" >&2
              exit 1
            fi
          done
          runHook postInstallCheck
        '';
      }
      // extra
    );

  volley = package "volley" "-p volley --bin volley" "volley" (
    # `volley --version` names the flake's revision: build.rs cannot ask
    # git in the sandbox (no .git there) and would say "unknown".
    lib.optionalAttrs (rev != null) { VOLLEY_GIT_COMMIT = rev; }
  );
  predict-servers = package "predict-servers"
    "-p volley-predict --bin predict-rest --bin predict-grpc"
    "predict-rest"
    { };
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
    # --all: every workspace member (servers/ too), as .ci/run checks; crane's
    # default formats the root package only.
    fmt = craneLib.cargoFmt {
      inherit src;
      cargoExtraArgs = "--all";
    };
  };
}
