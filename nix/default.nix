# Everything the flake exposes for one system: the Rust builds
# (packages.nix), their OCI images (images.nix), the apps that push them
# (push.nix), the checks and the development shell.
# rev: the flake's short git revision ("-dirty" on a dirty tree), or null
# where Nix knows none.
{ pkgs, crane, root, rev }:
let
  # The toolchain pinned in nix/rust-toolchain.toml, the file rustup and
  # .ci/run read too: `nix flake update` moves rust-overlay, not the
  # compiler (stable.latest would).
  toolchain = pkgs.rust-bin.fromRustupToolchainFile ./rust-toolchain.toml;
  craneLib = (crane.mkLib pkgs).overrideToolchain toolchain;
  rust = import ./packages.nix { inherit pkgs craneLib root rev; };
  images = import ./images.nix {
    inherit pkgs rev;
    inherit (rust) volley predict-servers;
  };
  push = import ./push.nix { inherit pkgs images rev; };
in
{
  packages = {
    inherit (rust) volley predict-servers;
    default = rust.volley;
    image-volley = images.volley;
    image-predict-rest = images.predict-rest;
    image-predict-grpc = images.predict-grpc;
  };

  apps = push;

  checks = rust.checks;

  devShells.default = craneLib.devShell {
    checks = rust.checks;
    packages = [
      pkgs.kubectl
      pkgs.kustomize
      pkgs.skopeo
      pkgs.tmux
    ];
  };
}
