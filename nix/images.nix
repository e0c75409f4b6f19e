# OCI images with dockerTools.streamLayeredImage: each output is a script
# that writes the image to stdout, so nothing large lands in the store.
# Deterministic: `created` stays at the epoch (dockerTools' default), the
# contents are exactly the closure of what is listed here, the tag is the
# output's hash. Each runs as a non-root user with CA certificates.
# rev: the flake's git revision, or null where Nix knows none.
{ pkgs, rev, volley, predict-servers }:
let
  uid = "10001";

  # /etc/passwd and /etc/group naming the user, so that tools that look
  # the user up (and TLS libraries that read $HOME) behave.
  user = pkgs.runCommand "volley-user" { } ''
    mkdir -p $out/etc
    echo "volley:x:${uid}:${uid}:volley:/tmp:/sbin/nologin" > $out/etc/passwd
    echo "volley:x:${uid}:" > $out/etc/group
  '';

  image =
    name:
    { entrypoint, port, description }:
    pkgs.dockerTools.streamLayeredImage {
      inherit name;
      contents = [
        pkgs.cacert
        user
      ];
      # A writable /tmp (results of a headless master, TLS files copied in).
      extraCommands = ''
        mkdir -m 1777 tmp
      '';
      config = {
        Entrypoint = [ entrypoint ];
        User = "${uid}:${uid}";
        WorkingDir = "/tmp";
        Env = [ "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt" ];
        ExposedPorts.${port} = { };
        Labels = {
          "org.opencontainers.image.title" = name;
          "org.opencontainers.image.description" = description;
          "org.opencontainers.image.licenses" = "MIT OR Apache-2.0";
        }
        # No revision label rather than a made-up one ("unknown").
        // pkgs.lib.optionalAttrs (rev != null) {
          "org.opencontainers.image.revision" = rev;
        };
      };
    };
in
builtins.mapAttrs image {
  # One image for both roles: volley master and volley worker (QUIC on 7700/udp).
  volley = {
    entrypoint = "${volley}/bin/volley";
    port = "7700/udp";
    description = "volley load tester: volley master, volley worker, volley run";
  };
  predict-rest = {
    entrypoint = "${predict-servers}/bin/predict-rest";
    port = "8000/tcp";
    description = "The text-classification prediction API over REST";
  };
  predict-grpc = {
    entrypoint = "${predict-servers}/bin/predict-grpc";
    port = "50051/tcp";
    description = "The text-classification prediction API over gRPC";
  };
}
