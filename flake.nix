{
  description = "volley: a distributed load tester for REST and gRPC APIs, and the prediction servers it studies";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    # A crane from before 0.22.0, which still supports nixos-25.05.
    crane.url = "github:ipetkov/crane";
    # nixos-25.05's rustc (1.86) is older than the workspace's rust-version
    # (1.88): the toolchain comes from rust-overlay.
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
          rev = self.shortRev or self.dirtyShortRev or "unknown";
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
