{
  description = "volley: a distributed load tester for REST and gRPC APIs, and the prediction servers it studies";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    # Pinned to a tag: crane 0.22.0 and later drop nixos-25.05 (and Nix
    # before 2.31.2), so an unpinned crane breaks on `nix flake update`.
    # v0.21.3 is the last 0.21 release. Move nixpkgs and crane together.
    crane.url = "github:ipetkov/crane/v0.21.3";
    # nixos-25.05's rustc (1.86) is older than the workspace's rust-version
    # (1.88): the toolchain comes from rust-overlay, at the version pinned
    # in nix/rust-toolchain.toml (rust-overlay keeps every stable release,
    # so updating it does not move the toolchain).
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { self, nixpkgs, crane, rust-overlay, ... }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      perSystem =
        system:
        import ./nix {
          pkgs = import nixpkgs {
            inherit system;
            overlays = [ (import rust-overlay) ];
          };
          inherit crane;
          root = ./.;
          # null where Nix knows no revision (not a git checkout, an older
          # Nix on a dirty tree): the image then has no revision label,
          # and the push apps refuse to push without VOLLEY_TAG rather
          # than push a made-up tag. "-dirty" revisions are refused too.
          # Ten characters, as build.rs writes a git checkout's (one
          # length for `volley --version` however it was built).
          rev =
            if self ? rev then
              builtins.substring 0 10 self.rev
            else if self ? dirtyRev then
              "${builtins.substring 0 10 self.dirtyRev}-dirty"
            else
              null;
        };
      each = attr: nixpkgs.lib.genAttrs systems (system: (perSystem system).${attr});
    in
    {
      packages = each "packages";
      apps = each "apps";
      checks = each "checks";
      devShells = each "devShells";
      formatter = nixpkgs.lib.genAttrs systems (system: nixpkgs.legacyPackages.${system}.nixfmt-rfc-style);
    };
}
