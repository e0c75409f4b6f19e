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
  # the user up (and TLS libraries that read $HOME) behave; and
  # /etc/nsswitch.conf, without which glibc's resolver has no order for
  # /etc/hosts and DNS (names such as a master's Service would resolve
  # differently than on a usual system).
  user = pkgs.runCommand "volley-user" { } ''
    mkdir -p $out/etc
    echo "volley:x:${uid}:${uid}:volley:/tmp:/sbin/nologin" > $out/etc/passwd
    echo "volley:x:${uid}:" > $out/etc/group
    echo "hosts: files dns" > $out/etc/nsswitch.conf
  '';

  image =
    name:
    {
      entrypoint,
      ports,
      description,
      cmd ? [ ],
    }:
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
        Cmd = cmd;
        User = "${uid}:${uid}";
        WorkingDir = "/tmp";
        Env = [ "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt" ];
        ExposedPorts = builtins.listToAttrs (
          map (p: {
            name = p;
            value = { };
          }) ports
        );
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
  # One image for both roles: volley master and volley worker (QUIC on
  # 7700/udp), the master's Prometheus metrics on 9646/tcp.
  volley = {
    entrypoint = "${volley}/bin/volley";
    ports = [
      "7700/udp"
      "9646/tcp"
    ];
    description = "volley load tester: volley master, volley worker, volley run";
  };
  # The servers listen on 127.0.0.1 by default (a laptop's safe default);
  # in an image that is unreachable, so the default command listens on
  # every interface (`docker run -p 8000:8000` reaches it). Kubernetes
  # passes its own --addr (k8s/base), which replaces this.
  predict-rest = {
    entrypoint = "${predict-servers}/bin/predict-rest";
    ports = [ "8000/tcp" ];
    cmd = [
      "--addr"
      "0.0.0.0:8000"
    ];
    description = "The text-classification prediction API over REST";
  };
  predict-grpc = {
    entrypoint = "${predict-servers}/bin/predict-grpc";
    ports = [ "50051/tcp" ];
    cmd = [
      "--addr"
      "0.0.0.0:50051"
    ];
    description = "The text-classification prediction API over gRPC";
  };
}
