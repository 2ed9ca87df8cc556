#!/bin/sh
# The team's MLflow tracking server: runs and the model registry in PostgreSQL, artifacts in a separate
# store, HTTP basic authentication with its users and permissions in a second PostgreSQL database.
# compose.yaml runs this in a container; it runs the same on any host with `pip install
# 'mlflow[auth]' psycopg2-binary`. docs/tracking.md: starting, securing, backing up, using it.
#
#   MLFLOW_BACKEND_STORE_URI      postgresql+psycopg2://USER:PASSWORD@HOST:5432/mlflow (required)
#   MLFLOW_AUTH_DATABASE_URI      postgresql+psycopg2://USER:PASSWORD@HOST:5432/mlflow_auth (required)
#   MLFLOW_ARTIFACTS_DESTINATION  where artifacts go: a folder, s3://..., gs://..., wasbs://... (required)
#   MLFLOW_AUTH_ADMIN_PASSWORD    the `admin` user's password, read on the first start only
#   MLFLOW_FLASK_SERVER_SECRET_KEY  a long random string (signs the auth app's CSRF tokens)
#   MLFLOW_HOST (127.0.0.1), MLFLOW_PORT (5000), MLFLOW_WORKERS (2)
#   MLFLOW_ALLOWED_HOSTS          the name clients use, behind a proxy (e.g. mlflow.example.com); default:
#                                 localhost and private addresses only
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (postgresql+psycopg2://...)}"
: "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI (postgresql+psycopg2://...)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (a folder or a bucket URL)}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY (a long random string)}"

# The auth app reads its database from an ini file: write one only this user can read (it holds a password).
umask 077
config="$(mktemp)"
cat >"$config" <<INI
[mlflow]
# Everyone signed in can read every experiment and model; only creators and those granted more can change them.
default_permission = READ
database_uri = ${MLFLOW_AUTH_DATABASE_URI}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$config"

# --artifacts-destination with proxied artifact access: clients upload and download through this server,
# so they need only its URL and their MLflow credentials, never the artifact store's.
exec mlflow server --app-name basic-auth \
    --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
    --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
    --host "${MLFLOW_HOST:-127.0.0.1}" --port "${MLFLOW_PORT:-5000}" --workers "${MLFLOW_WORKERS:-2}" \
    ${MLFLOW_ALLOWED_HOSTS:+--allowed-hosts "$MLFLOW_ALLOWED_HOSTS"}
