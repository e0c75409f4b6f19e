# Apps that stream an image straight into a registry with skopeo: no
# Docker daemon, nothing written to disk. The registry comes from
# VOLLEY_REGISTRY, e.g. us-central1-docker.pkg.dev/PROJECT/REPO (Artifact
# Registry; Container Registry is shut down). Credentials: skopeo reads
# Docker's config, so `gcloud auth configure-docker REGION-docker.pkg.dev`
# is enough; or set VOLLEY_REGISTRY_TOKEN (`gcloud auth print-access-token`).
{ pkgs, images, rev }:
let
  # skopeo refuses to copy without a signature policy; accept what we built.
  policy = pkgs.writeText "policy.json" (
    builtins.toJSON {
      default = [ { type = "insecureAcceptAnything"; } ];
    }
  );

  push =
    name: image:
    let
      app = pkgs.writeShellApplication {
        name = "push-${name}";
        runtimeInputs = [
          pkgs.skopeo
          pkgs.gzip
        ];
        text = ''
          : "''${VOLLEY_REGISTRY:?set VOLLEY_REGISTRY to REGION-docker.pkg.dev/PROJECT/REPO}"
          tag="''${VOLLEY_TAG:-${rev}}"
          dest="docker://$VOLLEY_REGISTRY/${name}:$tag"
          creds=()
          if [[ -n "''${VOLLEY_REGISTRY_TOKEN:-}" ]]; then
            creds=(--dest-creds "oauth2accesstoken:$VOLLEY_REGISTRY_TOKEN")
          fi
          echo "push-${name}: $dest" >&2
          ${image} | gzip --fast |
            skopeo --policy ${policy} copy "''${creds[@]}" docker-archive:/dev/stdin "$dest"
        '';
      };
    in
    {
      type = "app";
      program = "${app}/bin/push-${name}";
    };
in
{
  push-volley = push "volley" images.volley;
  push-predict-rest = push "predict-rest" images.predict-rest;
  push-predict-grpc = push "predict-grpc" images.predict-grpc;
}
