# Apps that stream an image straight into a registry with skopeo: no
# Docker daemon, nothing written to disk. The registry comes from
# VOLLEY_REGISTRY, e.g. us-central1-docker.pkg.dev/PROJECT/REPO (Artifact
# Registry; Container Registry is shut down). Credentials: skopeo reads
# Docker's config, so `gcloud auth configure-docker REGION-docker.pkg.dev`
# is enough; or set VOLLEY_REGISTRY_TOKEN (`gcloud auth print-access-token`).
{ pkgs, images, rev }:
let
  inherit (pkgs) lib;

  # skopeo refuses to copy without a signature policy; accept what we built.
  policy = pkgs.writeText "policy.json" (
    builtins.toJSON {
      default = [ { type = "insecureAcceptAnything"; } ];
    }
  );

  # The tag is the flake's git revision, or VOLLEY_TAG. Without either (no
  # revision known, or a dirty tree, whose "-dirty" tag would name a
  # different image at every push) the push refuses: a tag nobody can
  # trace back to a commit is worse than no push. It says which tag it
  # pushes and where that came from, and prints the reference pushed on
  # stdout (its messages go to stderr), for `kustomize edit set image`.
  push =
    name: image:
    let
      app = pkgs.writeShellApplication {
        name = "push-${name}";
        runtimeInputs = [
          pkgs.coreutils
          pkgs.gzip
          pkgs.skopeo
        ];
        text = ''
          : "''${VOLLEY_REGISTRY:?set VOLLEY_REGISTRY to REGION-docker.pkg.dev/PROJECT/REPO}"
          # What the flake saw when it built this app; empty where it knew none.
          flake_rev=${lib.escapeShellArg (if rev == null then "" else rev)}
          if [[ -n "''${VOLLEY_TAG:-}" ]]; then
            tag=$VOLLEY_TAG
            from="VOLLEY_TAG"
          elif [[ -z $flake_rev ]]; then
            echo "push-${name}: refusing to push: Nix knows no git revision for this build (not a git checkout, or a dirty tree on an older Nix); push from a clean checkout, or choose the tag with VOLLEY_TAG=..." >&2
            exit 1
          elif [[ $flake_rev == *-dirty ]]; then
            echo "push-${name}: refusing to push: the tree has uncommitted changes ($flake_rev), so no commit names what was built; commit first, or choose the tag with VOLLEY_TAG=..." >&2
            exit 1
          else
            tag=$flake_rev
            from="the flake's git revision"
          fi
          # The OCI distribution spec's tag grammar: caught here with a reason,
          # not by the registry.
          if ! [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
            echo "push-${name}: '$tag' (from $from) is not an image tag: up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -" >&2
            exit 1
          fi
          ref="$VOLLEY_REGISTRY/${name}:$tag"
          creds=()
          if [[ -n "''${VOLLEY_REGISTRY_TOKEN:-}" ]]; then
            creds=(--dest-creds "oauth2accesstoken:$VOLLEY_REGISTRY_TOKEN")
          fi
          digest_file=$(mktemp)
          trap 'rm -f "$digest_file"' EXIT
          echo "push-${name}: pushing $ref (tag from $from)" >&2
          ${image} | gzip --fast |
            skopeo --policy ${policy} copy "''${creds[@]}" --digestfile "$digest_file" \
              docker-archive:/dev/stdin "docker://$ref"
          echo "push-${name}: pushed $ref, digest $(<"$digest_file")" >&2
          echo "$ref"
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
