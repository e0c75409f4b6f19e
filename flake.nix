{
  description = "volley: a distributed load tester for REST and gRPC APIs, and the prediction servers it studies";

  inputs = {
    # A supported release (nixos-26.05: security fixes for glibc and the
    # CA certificates the images ship). README, Nix: where the lock entries
    # come from and how to re-lock.
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # Pinned to a tag, moved with nixpkgs: crane supports the latest NixOS
    # release and unstable only, and each release drops the one before
    # (0.22.0 dropped 25.05; its unreleased master drops 25.11). v0.23.4
    # needs Nix 2.31.2 or newer on the building machine.
    crane.url = "github:ipetkov/crane/v0.23.4";
    # The toolchain comes from rust-overlay, at the version pinned in
    # nix/rust-toolchain.toml, not from nixpkgs' rustc: moving nixpkgs does
    # not move it (rust-overlay keeps every stable release).
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
      # nixfmt: the RFC 166 formatter (nixfmt-rfc-style is its old name).
      formatter = nixpkgs.lib.genAttrs systems (system: nixpkgs.legacyPackages.${system}.nixfmt);
    };
}
