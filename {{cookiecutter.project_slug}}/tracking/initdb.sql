-- Run once by the postgres image on an empty volume (compose.yaml): the auth app's users and
-- permissions live in a database of their own, beside the runs and the registry (POSTGRES_DB).
CREATE DATABASE mlflow_auth;
