# Everything the flake exposes for one system: the Rust builds
# (packages.nix), their OCI images (images.nix), the apps that push them
# (push.nix), the checks and the development shell.
{ pkgs, crane, root, rev }:
let
  toolchain = pkgs.rust-bin.stable.latest.default.override {
    extensions = [ "clippy" "rustfmt" "rust-src" ];
  };
  craneLib = (crane.mkLib pkgs).overrideToolchain toolchain;
  rust = import ./packages.nix { inherit pkgs craneLib root; };
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
