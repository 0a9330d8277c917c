#!/bin/sh
# Entrypoint of the adspipe image. When ADSPIPE_SECRETS_ENV_FILE names a readable file (the tokens'
# env file, mounted read-only into run containers by DockerRunLauncher, see deploy/dagster.docker.yaml),
# its KEY=value lines become this process's environment before the command starts. So only the
# processes that run steps hold the tokens; the daemon that creates the containers never does.
# Lines are taken literally (no shell expansion, no quotes removed); blank lines and # comments skip.
set -eu
if [ -n "${ADSPIPE_SECRETS_ENV_FILE:-}" ] && [ -r "$ADSPIPE_SECRETS_ENV_FILE" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      ''|'#'*) continue ;;
    esac
    key=${line%%=*}
    case "$key" in
      *[!A-Za-z0-9_]*|[0-9]*|'') echo "entrypoint: skipped a malformed line in the secrets env file" >&2; continue ;;
    esac
    export "$key=${line#*=}"
  done < "$ADSPIPE_SECRETS_ENV_FILE"
fi
exec "$@"
